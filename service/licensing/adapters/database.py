"""Engines for the two supported databases, set up for this service's transactions."""

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ..settings import database_url

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(
    url: str, *, statement_timeout: float | None = None, **options: Any
) -> AsyncEngine:
    """An async engine; SQLite gets WAL, durable commits and write-locking BEGINs.

    ``statement_timeout`` (PostgreSQL) bounds how long one statement may wait on a
    silent network, and how long a session may sit idle inside a transaction: a
    worker frozen mid-batch then stops holding the partition's row lock, so the
    next owner can take over.
    """
    url = database_url(url)
    if make_url(url).get_backend_name() != "sqlite":
        options.setdefault("pool_pre_ping", True)
        options.setdefault("pool_size", 5)
        if statement_timeout is not None:
            idle_ms = str(int(statement_timeout * 1000))
            options.setdefault(
                "connect_args",
                {
                    "command_timeout": statement_timeout,
                    "server_settings": {"idle_in_transaction_session_timeout": idle_ms},
                },
            )
        return create_async_engine(url, **options)

    engine = create_async_engine(url, poolclass=NullPool, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock at the start, so that two workers serialize
        # instead of failing one of them at its first write.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
