"""Logging: one JSON object a line in a container, readable text on a terminal."""

import json
import logging
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


def context(record: logging.LogRecord) -> dict[str, Any]:
    return {k: getattr(record, k) for k in CONTEXT_FIELDS if hasattr(record, k)}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **context(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


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
    """Send the service's logger to stderr; never touches the root logger."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
