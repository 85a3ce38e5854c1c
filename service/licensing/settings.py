"""Configuration, read from ``LICENSING_*`` environment variables."""

import os
import re
import socket
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

from licensing_contracts import Streams


class ConfigurationError(ValueError):
    """A setting has a value the service cannot use."""


def database_url(url: str) -> str:
    """The SQLAlchemy async URL for a plain ``postgresql://`` or ``sqlite://`` URL."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def redact(url: str) -> str:
    """The URL without its password, fit for a log line."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


@dataclass(frozen=True)
class Settings:
    """Everything the worker and the CLI can be told."""

    redis_url: str = "redis://localhost:6379/0"
    """Redis holding the streams."""
    database_url: str = "sqlite:///licensing.sqlite3"
    """The SQL store; ``postgresql://…`` selects PostgreSQL."""
    stream_prefix: str = "licensing"
    """Prefix of every stream and key the service uses."""
    partitions: int = 1
    """Command streams; fixed for a deployment."""
    max_depth: int = 8
    """How many organization levels may lie below the account."""
    batch_size: int = 500
    """Most command entries applied in one transaction."""
    max_deliveries: int = 5
    """Failed attempts before an entry is dead-lettered as processing_failed."""
    lease_seconds: float = 15.0
    """A dead worker's partitions are taken over within this time."""
    drain_seconds: float = 10.0
    """On SIGTERM, the time to finish work in hand and exit."""
    stream_maxlen: int = 1_000_000
    """Approximate length the outcomes and events streams are trimmed to."""
    http_port: int = 8080
    """Port of /livez, /readyz, /metrics and /asyncapi; 0 turns them off."""
    log_format: str = "auto"
    """json, text, or auto (json unless on a terminal)."""
    log_level: str = "INFO"
    """Level of the service's logger."""
    batching: bool = True
    """Apply a batch in one transaction; off applies one command per transaction."""
    account_cache: int = 100_000
    """PostgreSQL: claims, levels and allocations kept in memory between batches
    (about 300 bytes each); 0 reads every batch's accounts from the database."""
    worker_id: str = field(
        default_factory=lambda: (
            f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
    )
    """Name of this worker in leases and logs."""

    def __post_init__(self) -> None:
        checks = [
            (self.partitions >= 1, "LICENSING_PARTITIONS must be at least 1"),
            (1 <= self.max_depth <= 64, "LICENSING_MAX_DEPTH must be 1 to 64"),
            (self.batch_size >= 1, "LICENSING_BATCH_SIZE must be at least 1"),
            (self.account_cache >= 0, "LICENSING_ACCOUNT_CACHE must be 0 or more"),
            (self.max_deliveries >= 1, "LICENSING_MAX_DELIVERIES must be at least 1"),
            (self.lease_seconds >= 1, "LICENSING_LEASE_SECONDS must be at least 1"),
            (self.drain_seconds > 0, "LICENSING_DRAIN_SECONDS must be above 0"),
            (0 <= self.http_port <= 65535, "LICENSING_HTTP_PORT must be 0 to 65535"),
            (
                self.log_format in ("auto", "json", "text"),
                "LICENSING_LOG_FORMAT must be auto, json or text",
            ),
            (
                bool(re.fullmatch(r"[A-Za-z0-9._:-]+", self.stream_prefix)),
                "LICENSING_STREAM_PREFIX may hold letters, digits and . _ : -",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigurationError(message)

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, **overrides: Any
    ) -> "Settings":
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"LICENSING_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def streams(self) -> Streams:
        return Streams(self.stream_prefix, self.partitions)

    @property
    def sqlalchemy_url(self) -> str:
        return database_url(self.database_url)

    def key(self, *parts: object) -> str:
        """A Redis key of this deployment, other than a stream."""
        return ".".join([self.stream_prefix, *map(str, parts)])


def _worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _convert(name: str, raw: str, kind: Any) -> Any:
    env = f"LICENSING_{name.upper()}"
    try:
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (bool, "bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError:
        kind_name = getattr(kind, "__name__", kind)
        raise ConfigurationError(f"{env}={raw!r} is not a valid {kind_name}") from None
    return raw
