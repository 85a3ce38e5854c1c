"""Logging: one JSON object a line in a container, readable text on a terminal."""

import json
import logging
import math
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "licensing"
# Fields that a log call may attach with ``extra=`` and that every formatter shows.
CONTEXT_FIELDS = (
    "command_id",
    "account_id",
    "command_type",
    "outcome",
    "reason",
    "duration_ms",
    "partition",
    "epoch",
    "entry_id",
    "batch_size",
    "worker_id",
    "error",
)

logger = logging.getLogger(LOGGER_NAME)

_ENCODER = json.JSONEncoder(default=str)


def context(record: logging.LogRecord) -> dict[str, Any]:
    fields = record.__dict__
    return {k: fields[k] for k in CONTEXT_FIELDS if k in fields}


class _UtcClock:
    """Times as ``datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")``
    writes them; the text up to the second is kept while lines come in that second.
    """

    def __init__(self) -> None:
        self._second: tuple[int, str] | None = None

    def iso(self, timestamp: float) -> str:
        # Split and round to microseconds the way ``datetime.fromtimestamp`` does.
        fraction, whole = math.modf(timestamp)
        micros = round(fraction * 1e6)
        if micros >= 1_000_000:
            whole, micros = whole + 1, micros - 1_000_000
        elif micros < 0:
            whole, micros = whole - 1, micros + 1_000_000
        second = int(whole)
        cached = self._second
        if cached is None or cached[0] != second:
            text = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
            cached = self._second = (second, text.removesuffix("+00:00"))
        return f"{cached[1]}.{micros // 1000:03d}+00:00"


_utc_clock = _UtcClock()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": _utc_clock.iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record.__dict__
        for name in CONTEXT_FIELDS:
            if name in fields:
                line[name] = fields[name]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(line)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        time = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        fields = " ".join(f"{k}={v}" for k, v in context(record).items())
        text = f"{time} {record.levelname:<7} {record.getMessage()}"
        if fields:
            text = f"{text}  {fields}"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


def configure(log_format: str = "auto", level: str = "INFO") -> None:
    """Send the service's logger to stderr; never touches the root logger.

    Log records of the process no longer gather what neither formatter shows:
    the caller's file and line, thread, process and task (the flags of the
    logging HOWTO's "Optimization").
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if sys.version_info >= (3, 12):
        logging.logAsyncioTasks = False
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
