"""The service as other services see it: streams in Redis, read and written with
plain redis-py, and the contract's client."""

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from licensing_contracts import AsyncLicensingClient, Outcome, Streams, command_adapter

Document = dict[str, Any]
TIMEOUT = 30.0


class Wire:
    """The streams of one deployment (one prefix, one partition)."""

    def __init__(self, redis: "Redis[bytes]", prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.streams = Streams(prefix)
        self.client = AsyncLicensingClient(redis, prefix=prefix)

    async def execute(self, document: Document, timeout: float = TIMEOUT) -> Outcome:
        """Send a command as the contract's client does; wait for its outcome."""
        command = command_adapter.validate_python(document)
        return await self.client.execute(command, timeout=timeout)

    async def execute_all(self, *documents: Document) -> list[Outcome]:
        return [await self.execute(document) for document in documents]

    async def add(self, fields: dict[str | bytes, str | bytes]) -> str:
        """Add an entry to the command stream exactly as given; its entry id."""
        entry_id = await self.redis.xadd(self.streams.commands(0), fields)  # type: ignore[arg-type]
        return entry_id.decode()

    async def add_document(self, document: Any) -> str:
        return await self.add({"__data__": json.dumps(document)})

    async def entries(self, stream: str) -> list[tuple[str, dict[bytes, bytes]]]:
        return [
            (entry_id.decode(), fields)
            for entry_id, fields in await self.redis.xrange(stream)
        ]

    async def documents(self, stream: str) -> list[Document]:
        """The JSON documents of a stream, oldest first."""
        return [
            json.loads(fields[b"__data__"]) for _, fields in await self.entries(stream)
        ]

    async def wait_for(
        self,
        stream: str,
        matches: Callable[[Document], bool],
        count: int = 1,
        timeout: float = TIMEOUT,
    ) -> list[Document]:
        """The documents of a stream that match, once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in await self.documents(stream) if matches(d)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(found)} of {count} documents on {stream} after {timeout}s"
                )
            await asyncio.sleep(0.05)

    async def outcomes_of(
        self, command_id: str, count: int = 1, timeout: float = TIMEOUT
    ) -> list[Outcome]:
        found = await self.wait_for(
            self.streams.outcomes,
            lambda d: d["command_id"] == command_id,
            count,
            timeout,
        )
        return [Outcome.model_validate(d) for d in found]

    async def dead_letter_of(self, entry_id: str) -> Document:
        [letter] = await self.wait_for(
            self.streams.dead_letters, lambda d: d["entry_id"] == entry_id
        )
        return letter

    async def events_of(self, account_id: str) -> list[Document]:
        return [
            d
            for d in await self.documents(self.streams.events)
            if d["account_id"] == account_id
        ]


def levels(event: Document) -> dict[str | None, tuple[Any, ...]]:
    """(dedicated, pool, assigned_users, available, funding_level) of each level
    an event lists, by organization id (None: the account)."""
    return {
        level["organization_id"]: (
            level["dedicated"],
            level["pool"],
            level["assigned_users"],
            level["available"],
            level["funding_level"],
        )
        for level in event["levels"]
    }


def statuses(outcomes: list[Outcome]) -> list[str]:
    """accepted, or the reason of a refusal, for each outcome."""
    return [o.reason.value if o.reason else o.status for o in outcomes]
