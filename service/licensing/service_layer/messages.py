"""Reading command entries off a stream: plain JSON or FastStream's envelope."""

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from faststream.redis.parser import BinaryMessageFormatV1
from pydantic import ValidationError
from pydantic_core import from_json

from licensing_contracts import DATA_FIELD, MAX_ENTRY_BYTES, Command, command_adapter

_DATA = DATA_FIELD.encode()
_JSON_SPACE = b" \t\n\r"


@dataclass
class Entry:
    """One stream entry as Redis returned it."""

    stream: str
    entry_id: str
    fields: dict[bytes, bytes]
    deliveries: int = 1


@dataclass
class Decoded:
    """An entry read as a command, or why it could not be."""

    entry: Entry
    command: Command | None = None
    error: str | None = None
    command_id: str | None = None
    account_id: str | None = None
    reply_to: str | None = None
    """The stream that also gets the outcome, when the entry names a usable one."""
    reply_channel: str | None = None
    """Where a FastStream ``request`` waits for its answer."""
    correlation_id: str | None = None
    document: dict[str, Any] = field(default_factory=dict)


def decode(entry: Entry) -> Decoded:
    """The command in an entry; never raises: errors are returned in ``error``."""
    try:
        return _decode(entry)
    except Exception as error:  # an entry must never stop its partition
        return Decoded(
            entry, error=f"the entry cannot be read: {type(error).__name__}: {error}"
        )


def _decode(entry: Entry) -> Decoded:
    raw = entry.fields.get(_DATA)
    if raw is None:
        return Decoded(entry, error=f"the entry has no {DATA_FIELD} field")

    document = _plain_object(raw)
    if document is not None:
        decoded = Decoded(entry)
    else:
        body, headers = _unwrap(raw)
        decoded = Decoded(
            entry,
            reply_channel=_reply_target(headers.get("reply_to")),
            correlation_id=_text_header(headers.get("correlation_id")),
        )
        try:
            document = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            decoded.error = "the entry is not UTF-8 text"
            return decoded
        except json.JSONDecodeError as error:
            decoded.error = f"the entry is not JSON: {error.msg} at {error.pos}"
            return decoded
        except RecursionError:
            decoded.error = "the entry is not readable JSON: nested too deeply"
            return decoded
        except ValueError as error:  # an integer too long to read, say
            decoded.error = f"the entry is not readable JSON: {error}"
            return decoded
        if not isinstance(document, dict):
            decoded.error = "the entry is not a JSON object"
            return decoded

    decoded.document = document
    decoded.command_id = _readable(document.get("command_id"))
    decoded.account_id = _readable(document.get("account_id"))
    decoded.reply_to = _reply_target(document.get("reply_to"))
    size = sum(len(k) + len(v) for k, v in entry.fields.items())
    if size > MAX_ENTRY_BYTES:
        decoded.error = f"the entry is {size} bytes; at most {MAX_ENTRY_BYTES}"
        return decoded
    try:
        decoded.command = command_adapter.validate_python(document)
    except ValidationError as error:
        decoded.error = describe(error)
    return decoded


def _plain_object(raw: bytes) -> dict[str, Any] | None:
    """The entry's JSON object when the entry is plain JSON text, else None.

    The common entry's shortcut past ``_unwrap``: it reads what ``json.loads``
    reads, only faster. FastStream's envelopes (binary, or an object with a
    ``data`` key) and anything unreadable give None and take the longer way,
    which words their errors.
    """
    if raw.lstrip(_JSON_SPACE)[:1] != b"{":
        return None
    try:
        document = from_json(raw)
    except ValueError:
        return None
    if not isinstance(document, dict) or "data" in document:
        return None
    return document


def _unwrap(raw: bytes) -> tuple[bytes, dict[str, Any]]:
    """The body and headers of FastStream's envelope, or the raw bytes as they are."""
    try:
        body, headers = BinaryMessageFormatV1.parse(raw)
    except Exception:
        return raw, {}
    if not isinstance(body, bytes):
        body = str(body).encode()
    return body, headers if isinstance(headers, dict) else {}


def _text_header(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 256 else None


def _reply_target(value: Any) -> str | None:
    """A stream or channel name fit to answer on; anything else is ignored."""
    if (
        isinstance(value, str)
        and 0 < len(value) <= 256
        and not any(c.isspace() for c in value)
    ):
        return value
    return None


def _readable(value: Any) -> str | None:
    if isinstance(value, str) and 1 <= len(value) <= 128:
        return value
    return None


def describe(error: ValidationError) -> str:
    """A validation error as one line: each bad field and what is wrong with it."""
    parts = []
    for problem in error.errors(include_url=False)[:10]:
        where = ".".join(str(p) for p in problem["loc"]) or "document"
        parts.append(f"{where}: {problem['msg']}")
    return "invalid command: " + "; ".join(parts)


def printable_fields(fields: dict[bytes, bytes]) -> dict[str, str]:
    """Entry fields as text; bytes that are not UTF-8 become ``base64:…``."""
    shown = {}
    for key, value in fields.items():
        name = key.decode("utf-8", "backslashreplace")
        try:
            shown[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            shown[name] = "base64:" + base64.b64encode(value).decode()
    return shown
