"""A worker shared by the tests of one module, for suites whose tests each use
an account of their own; tests that need a worker of their own start one with
``start_worker``."""

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from store.documents import Commands
from support.backends import Backends
from support.databases import PostgresDatabases
from support.worker import WorkerProcess

from .wire import Wire


@dataclass(frozen=True)
class Deployment:
    """A worker with its stream prefix and database."""

    prefix: str
    database_url: str
    redis_url: str
    worker: WorkerProcess

    @property
    def env(self) -> dict[str, str]:
        return {
            "LICENSING_REDIS_URL": self.redis_url,
            "LICENSING_DATABASE_URL": self.database_url,
            "LICENSING_STREAM_PREFIX": self.prefix,
        }


@contextlib.contextmanager
def deployed(
    backing: Backends, database_url: str, folder: Path
) -> Iterator[Deployment]:
    """A worker on its own stream prefix, killed and cleared away on exit."""
    prefix = f"test-shared-{uuid.uuid4().hex[:8]}"
    env = {
        "LICENSING_REDIS_URL": backing.redis_url,
        "LICENSING_DATABASE_URL": database_url,
        "LICENSING_STREAM_PREFIX": prefix,
    }
    worker = WorkerProcess(env, folder / "worker.log", "shared-worker").start()
    try:
        yield Deployment(prefix, database_url, backing.redis_url, worker)
    finally:
        worker.kill()
        backing.forget_prefix(prefix)


@pytest.fixture(scope="module")
def shared(
    backing: Backends,
    postgres_databases: PostgresDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    """One worker on PostgreSQL for the whole module."""
    database_url = postgres_databases.fresh()
    with deployed(backing, database_url, tmp_path_factory.mktemp("shared")) as found:
        yield found
    postgres_databases.drop(database_url)


@pytest.fixture
async def shared_wire(redis: "Redis[bytes]", shared: Deployment) -> AsyncIterator[Wire]:
    assert shared.worker.alive(), shared.worker.logs_text()[-3000:]
    wire = Wire(redis, shared.prefix)
    yield wire
    await redis.delete(wire.client.reply_stream)


@pytest.fixture
def wire(redis: "Redis[bytes]", prefix: str) -> Wire:
    """The streams of this test's own prefix."""
    return Wire(redis, prefix)


@pytest.fixture
def account() -> Commands:
    """An account no other test uses."""
    return Commands(f"acct-{uuid.uuid4().hex[:10]}")
