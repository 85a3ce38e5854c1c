"""A small client: send a command to its partition and wait for its outcome.

It needs no Redis library of its own: pass any client with redis-py's
``xadd``/``xread``/``xrevrange`` methods (``redis.asyncio.Redis`` for
``AsyncLicensingClient``, ``redis.Redis`` for ``LicensingClient``).
"""

import time
import uuid
from collections.abc import Awaitable
from typing import Any, Protocol

from .commands import Command, command_adapter
from .outcomes import Outcome
from .streams import DATA_FIELD, Streams

_BLOCK_MS = 500


class OutcomeTimeout(TimeoutError):
    """No outcome arrived for the command in time."""


class _AsyncRedis(Protocol):
    def xadd(self, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...
    def xread(self, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...
    def xrevrange(self, *args: Any, **kwargs: Any) -> Awaitable[Any]: ...


class _SyncRedis(Protocol):
    def xadd(self, *args: Any, **kwargs: Any) -> Any: ...
    def xread(self, *args: Any, **kwargs: Any) -> Any: ...
    def xrevrange(self, *args: Any, **kwargs: Any) -> Any: ...


def encode(command: Command) -> dict[str, str]:
    """The stream entry of a command: its plain JSON under ``__data__``."""
    return {DATA_FIELD: command.model_dump_json(exclude_none=False)}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _outcomes_in(response: Any, command_id: str) -> tuple[str | None, Outcome | None]:
    """The last entry id read, and the outcome for command_id if it was among them."""
    last_id = None
    for _stream, entries in response or ():
        for entry_id, fields in entries:
            last_id = _text(entry_id)
            data = {_text(k): v for k, v in fields.items()}.get(DATA_FIELD)
            if data is None:
                continue
            outcome = Outcome.model_validate_json(data)
            if outcome.command_id == command_id:
                return last_id, outcome
    return last_id, None


def _last_id(response: Any) -> str:
    return _text(response[0][0]) if response else "0-0"


class _Base:
    def __init__(
        self,
        *,
        prefix: str = "licensing",
        partitions: int = 1,
        reply_stream: str | None = None,
    ) -> None:
        self.streams = Streams(prefix, partitions)
        self.reply_stream = reply_stream or f"{prefix}.replies.{uuid.uuid4().hex}"

    def _with_reply(self, command: Command) -> Command:
        return command_adapter.validate_python(
            command.model_copy(update={"reply_to": self.reply_stream}).model_dump()
        )


class AsyncLicensingClient(_Base):
    """Sends commands with an asyncio Redis client."""

    def __init__(self, redis: _AsyncRedis, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.redis = redis

    async def send(self, command: Command) -> str:
        """Add the command to its partition's stream; returns the entry id."""
        stream = self.streams.commands_of(command.account_id)
        return _text(await self.redis.xadd(stream, encode(command)))

    async def execute(self, command: Command, timeout: float = 10.0) -> Outcome:
        """Send the command and wait for its outcome on this client's reply stream."""
        command = self._with_reply(command)
        position = _last_id(await self.redis.xrevrange(self.reply_stream, count=1))
        await self.send(command)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = await self.redis.xread(
                {self.reply_stream: position}, block=_BLOCK_MS
            )
            last_id, outcome = _outcomes_in(response, command.command_id)
            if outcome is not None:
                return outcome
            position = last_id or position
        raise OutcomeTimeout(f"no outcome for {command.command_id} in {timeout}s")


class LicensingClient(_Base):
    """Sends commands with a blocking Redis client."""

    def __init__(self, redis: _SyncRedis, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.redis = redis

    def send(self, command: Command) -> str:
        """Add the command to its partition's stream; returns the entry id."""
        stream = self.streams.commands_of(command.account_id)
        return _text(self.redis.xadd(stream, encode(command)))

    def execute(self, command: Command, timeout: float = 10.0) -> Outcome:
        """Send the command and wait for its outcome on this client's reply stream."""
        command = self._with_reply(command)
        position = _last_id(self.redis.xrevrange(self.reply_stream, count=1))
        self.send(command)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.redis.xread({self.reply_stream: position}, block=_BLOCK_MS)
            last_id, outcome = _outcomes_in(response, command.command_id)
            if outcome is not None:
                return outcome
            position = last_id or position
        raise OutcomeTimeout(f"no outcome for {command.command_id} in {timeout}s")
