"""Fixtures shared by every suite: backing services, databases, stream prefixes,
and the worker as a real process."""

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from licensing_contracts import AsyncLicensingClient
from support.backends import Backends, backends
from support.databases import PostgresDatabases, SqliteDatabases
from support.worker import WorkerProcess

RUN = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def backing() -> Iterator[Backends]:
    with backends() as found:
        yield found


@pytest.fixture(scope="session")
def postgres_databases(backing: Backends) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(backing.postgres_url)
    databases.setup()
    yield databases
    databases.teardown()


@pytest.fixture(scope="session")
def sqlite_databases(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SqliteDatabases]:
    databases = SqliteDatabases(tmp_path_factory.mktemp("sqlite"))
    databases.setup()
    yield databases
    databases.teardown()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
) -> Iterator[str]:
    """A fresh, migrated database of each kind, one per test."""
    name = "sqlite_databases" if request.param == "sqlite" else "postgres_databases"
    databases = request.getfixturevalue(name)
    url = databases.fresh()
    yield url
    databases.drop(url)


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    url = postgres_databases.fresh()
    yield url
    postgres_databases.drop(url)


@pytest.fixture
def prefix() -> str:
    """A stream prefix no other test or run uses."""
    return f"test-{RUN}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def redis(backing: Backends, prefix: str) -> AsyncIterator["Redis[bytes]"]:
    client: Redis[bytes] = Redis.from_url(backing.redis_url)
    yield client
    await client.aclose()
    backing.forget_prefix(prefix)


@pytest.fixture
def client(redis: "Redis[bytes]", prefix: str) -> AsyncLicensingClient:
    return AsyncLicensingClient(redis, prefix=prefix)


@pytest.fixture
def start_worker(
    backing: Backends, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``licensing worker`` processes; each is killed at the end of the
    test, and the Redis keys of their stream prefixes deleted after them."""
    started: list[WorkerProcess] = []
    prefixes: set[str] = set()

    def start(database_url: str, prefix: str, **settings: object) -> WorkerProcess:
        env = {
            "LICENSING_REDIS_URL": backing.redis_url,
            "LICENSING_DATABASE_URL": database_url,
            "LICENSING_STREAM_PREFIX": prefix,
            **{f"LICENSING_{k.upper()}": str(v) for k, v in settings.items()},
        }
        name = f"worker-{len(started) + 1}"
        worker = WorkerProcess(env, tmp_path / f"{name}.log", name).start()
        started.append(worker)
        prefixes.add(prefix)
        return worker

    yield start
    for worker in started:
        worker.kill()
    for prefix in prefixes:
        backing.forget_prefix(prefix)
