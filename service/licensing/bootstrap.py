"""The one place that wires settings, database, Redis and the worker together."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from faststream import FastStream
from faststream.redis import RedisBroker
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from .adapters.bus import Bus
from .adapters.database import create_engine, is_sqlite
from .adapters.migrate import MIGRATIONS, upgrade_async
from .adapters.store import Store
from .logs import logger
from .service_layer.ownership import Worker
from .settings import ConfigurationError, Settings, redact

# FastStream's own log lines would duplicate ours; give it a logger that is off.
_QUIET = logging.getLogger("licensing.faststream")
_QUIET.disabled = True


@dataclass
class Services:
    settings: Settings
    store: Store
    broker: RedisBroker
    redis: Redis
    bus: Bus


@asynccontextmanager
async def services(settings: Settings) -> AsyncIterator[Services]:
    """Database and Redis connections, closed on exit."""
    store = Store(create_engine(settings.database_url), max_depth=settings.max_depth)
    broker = RedisBroker(settings.redis_url, logger=_QUIET)
    try:
        redis = await broker.connect()
        bus = Bus(redis, settings.stream_prefix, settings.stream_maxlen)
        yield Services(settings, store, broker, redis, bus)
    finally:
        await broker.stop()
        await store.close()


async def ensure_schema(store: Store, settings: Settings) -> None:
    """Migrate an embedded SQLite database; refuse to run on an outdated server."""
    where = redact(settings.database_url)
    if is_sqlite(store.engine):
        await upgrade_async(settings.database_url)
        return
    head = _head_revision()
    try:
        async with store.engine.connect() as connection:
            current = await connection.scalar(
                text("SELECT version_num FROM alembic_version")
            )
    except ProgrammingError:
        current = None
    except Exception as error:
        raise ConfigurationError(
            f"cannot use the database {where}: {_first_line(error)}"
        ) from None
    if current != head:
        raise ConfigurationError(
            f"the database {where} is at schema {current or 'none'}, not {head}: "
            "run `licensing migrate` first"
        )


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from .adapters.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, f"no migrations in {MIGRATIONS}"
    return head


def worker_app(settings: Settings) -> FastStream:
    """The worker as a FastStream application: SIGTERM and SIGINT stop it gracefully."""
    stack: dict[str, object] = {}
    broker = RedisBroker(settings.redis_url, logger=_QUIET)

    async def start() -> None:
        # Statements and open transactions end within a lease's lifetime, so a
        # worker frozen mid-batch does not hold its successor up for longer.
        # No ping before each checkout (three round trips a batch): a dead
        # connection fails its batch, which is retried on a fresh one.
        engine = create_engine(
            settings.database_url,
            statement_timeout=settings.lease_seconds * 2 / 3,
            pool_pre_ping=False,
        )
        store = Store(
            engine, max_depth=settings.max_depth, cache_size=settings.account_cache
        )
        await ensure_schema(store, settings)
        redis = await broker.connect()
        bus = Bus(redis, settings.stream_prefix, settings.stream_maxlen)
        worker = Worker(settings, bus, store)
        stack.update(store=store, worker=worker)
        # What is alive now (modules, schemas, compiled statements) lives as
        # long as the worker: keep it out of the collector's full passes, which
        # would otherwise walk it all, tens of milliseconds with no batch moving.
        gc.freeze()
        await worker.start()
        if settings.http_port:
            from .entrypoints.http import serve

            stack["http"] = await serve(worker, store, redis, settings)
        logger.info(
            "worker started",
            extra={"worker_id": settings.worker_id},
        )
        logger.info(
            "redis %s, database %s, stream prefix %s, partitions: %d",
            redact(settings.redis_url),
            redact(settings.database_url),
            settings.stream_prefix,
            settings.partitions,
        )

    async def stop() -> None:
        worker = stack.get("worker")
        if isinstance(worker, Worker):
            await worker.stop()
        http = stack.get("http")
        if http is not None:
            http.close()  # type: ignore[attr-defined]
        store = stack.get("store")
        if isinstance(store, Store):
            await store.close()

    return FastStream(broker, logger=_QUIET, after_startup=[start], on_shutdown=[stop])
