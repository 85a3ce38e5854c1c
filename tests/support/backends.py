"""Where the tests find Redis and PostgreSQL.

With a Docker engine, testcontainers starts throwaway ones. Without one (as on
CI machines that run the services themselves), the tests use the servers named
by ``LICENSING_TEST_REDIS_URL`` and ``LICENSING_TEST_POSTGRES_URL``. Either
way every test run gets its own databases and stream prefixes.
"""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from redis import Redis

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Backends:
    redis_url: str
    postgres_url: str
    """A URL of the server's maintenance database, for CREATE/DROP DATABASE."""

    def forget_prefix(self, prefix: str) -> None:
        """Delete every Redis key of a stream prefix."""
        with Redis.from_url(self.redis_url) as redis:
            keys = list(redis.scan_iter(f"{prefix}*", count=1000))
            if keys:
                redis.delete(*keys)


def _docker_available() -> bool:
    if os.environ.get("LICENSING_TEST_NO_CONTAINERS"):
        return False
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def backends() -> Iterator[Backends]:
    named = "LICENSING_TEST_REDIS_URL" in os.environ
    if named or not _docker_available():
        yield Backends(
            os.environ.get("LICENSING_TEST_REDIS_URL", DEFAULT_REDIS),
            os.environ.get("LICENSING_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        )
        return
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    with (
        RedisContainer("redis:7") as redis,
        PostgresContainer("postgres:16", driver=None) as postgres,
    ):
        host = redis.get_container_host_ip()
        port = redis.get_exposed_port(6379)
        yield Backends(f"redis://{host}:{port}/0", postgres.get_connection_url())
