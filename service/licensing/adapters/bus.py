"""Redis: command streams, partition leases, and publishing the outbox.

Publishing runs as one Lua script that first checks the partition's lease, so
a worker that lost its partition (paused past its lease, say) cannot publish
after the new owner has started: per-account order on the event stream holds.
Reading new entries checks the lease in the same way, for the same reason.
"""

import json
from collections.abc import Sequence
from typing import Any

from faststream.redis.parser import BinaryMessageFormatV1
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from licensing_contracts import DATA_FIELD

from ..service_layer.messages import Entry
from .store import OutboxRow

GROUP = "licensing"
"""The consumer group of every command stream."""
REPLY_STREAM_MAXLEN = 10_000

_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local function send(kind, target, payload)
  if kind == 'stream' then
    redis.call('XADD', target, 'MAXLEN', '~', ARGV[2], '*', '__data__', payload)
  elseif kind == 'reply_stream' then
    -- A sender's reply stream is a courtesy copy: a key of another type there
    -- must not fail the script after the outcome is already on its stream.
    redis.pcall('XADD', target, 'MAXLEN', '~', ARGV[3], '*', '__data__', payload)
  else
    redis.call('PUBLISH', target, payload)
  end
end
local acks = tonumber(ARGV[4])
local i = 5
while i < 5 + acks do
  local last = math.min(i + 499, 4 + acks)
  redis.call('XACK', KEYS[2], ARGV[5 + acks], unpack(ARGV, i, last))
  i = last + 1
end
i = 6 + acks
while i <= #ARGV do
  local kind, target, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if kind == 'lines' then
    local at, size = 1, #payload
    while at <= size do
      local stop = string.find(payload, '\\n', at, true) or size + 1
      local a = string.find(payload, '\\t', at, true)
      local b = string.find(payload, '\\t', a + 1, true)
      send(string.sub(payload, at, a - 1), string.sub(payload, a + 1, b - 1),
        string.sub(payload, b + 1, stop - 1))
      at = stop + 1
    end
  else
    send(kind, target, payload)
  end
  i = i + 3
end
return 1
"""
LINES = "lines"
"""Messages sent to ``_PUBLISH`` as one argument, a line each: kind, a tab,
target, a tab, payload. Encoding three arguments a message took 7.7% of the
worker's profile in a closed loop; one argument of lines takes 2.9%."""


# Every owner reads as the same consumer, and a new owner looks at that
# consumer's pending entries only when it starts. A worker that lost its lease
# could otherwise still take new entries (XREADGROUP >) after the new owner has
# drained: they would sit pending, unseen, while later ones are applied.
_READ_NEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return false
end
local read = redis.call(
  'XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', ARGV[4], 'STREAMS', KEYS[2], '>')
if read then
  return {read[1][2], ''}
end
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[2])) do
  local name, last = nil, nil
  for i = 1, #group, 2 do
    if group[i] == 'name' then name = group[i + 1] end
    if group[i] == 'last-delivered-id' then last = group[i + 1] end
  end
  if name == ARGV[2] then
    return {{}, last}
  end
end
return {{}, '$'}
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Bus:
    """The Redis side of one worker."""

    def __init__(self, redis: Redis, prefix: str, stream_maxlen: int) -> None:
        # redis-py types replies as bytes-or-str for every client; this one is
        # never decode_responses, so replies are handled as the bytes they are.
        self.redis: Any = redis
        self.prefix = prefix
        self.stream_maxlen = stream_maxlen
        self._publish = redis.register_script(_PUBLISH)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._read_new = redis.register_script(_READ_NEW)

    # Leases

    def lease_key(self, partition: int) -> str:
        return f"{self.prefix}.lease.{partition}"

    async def acquire(self, partition: int, token: str, ttl_ms: int) -> bool:
        return bool(
            await self.redis.set(self.lease_key(partition), token, nx=True, px=ttl_ms)
        )

    async def renew(self, partition: int, token: str, ttl_ms: int) -> bool:
        return bool(
            await self._renew(keys=[self.lease_key(partition)], args=[token, ttl_ms])
        )

    async def release(self, partition: int, token: str) -> None:
        await self._release(keys=[self.lease_key(partition)], args=[token])

    async def holders(self, partitions: int) -> list[str | None]:
        values = await self.redis.mget([self.lease_key(n) for n in range(partitions)])
        return [v.decode() if v else None for v in values]

    async def heartbeat(self, worker_id: str, ttl_ms: int) -> None:
        await self.redis.set(f"{self.prefix}.workers.{worker_id}", b"1", px=ttl_ms)

    async def leave(self, worker_id: str) -> None:
        await self.redis.delete(f"{self.prefix}.workers.{worker_id}")

    async def workers(self) -> list[str]:
        pattern = f"{self.prefix}.workers.*"
        start = len(pattern) - 1
        return sorted([k.decode()[start:] async for k in self.redis.scan_iter(pattern)])

    # Command streams

    async def ensure_group(self, stream: str) -> None:
        """The consumer group, created at the start of the stream if it is missing,
        so that commands sent before any worker ran are processed too."""
        try:
            await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def read_pending(self, stream: str, consumer: str, count: int) -> list[Entry]:
        """Entries read before as this consumer but not acknowledged, oldest first."""
        response = await self.redis.xreadgroup(
            GROUP, consumer, {stream: "0"}, count=count
        )
        entries = [
            Entry(stream, entry_id.decode(), fields or {})
            for _name, messages in response or ()
            for entry_id, fields in messages
        ]
        if entries:
            await self._count_deliveries(stream, entries)
        return entries

    async def read_new(
        self,
        partition: int,
        token: str,
        stream: str,
        consumer: str,
        count: int,
        block_ms: int,
    ) -> list[Entry] | None:
        """Entries no one has read yet, while ``token`` holds the partition's
        lease; None once it does not. With none to read, waits up to block_ms for
        one to arrive and returns an empty list."""
        found = await self._read_new(
            keys=[self.lease_key(partition), stream],
            args=[token, GROUP, consumer, count],
        )
        if found is None:
            return None
        messages, position = found
        if not messages:
            # A plain XREAD only waits: it delivers nothing to the group.
            await self.redis.xread({stream: position}, count=1, block=block_ms)
            return []
        return [
            Entry(stream, _text(entry_id), _fields(pairs))
            for entry_id, pairs in messages
        ]

    async def _count_deliveries(self, stream: str, entries: list[Entry]) -> None:
        details = await self.redis.xpending_range(
            stream,
            GROUP,
            min=entries[0].entry_id,
            max=entries[-1].entry_id,
            count=len(entries),
        )
        counts = {_text(d["message_id"]): int(d["times_delivered"]) for d in details}
        for entry in entries:
            entry.deliveries = counts.get(entry.entry_id, 1)

    async def ack(self, stream: str, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self.redis.xack(stream, GROUP, *entry_ids)

    # Publishing

    async def publish(
        self,
        partition: int,
        token: str,
        rows: Sequence[OutboxRow],
        stream: str = "",
        acknowledged: Sequence[str] = (),
    ) -> bool:
        """Publish outbox rows in order if this worker still holds the partition,
        and acknowledge entries of its command stream in the same step."""
        args: list[Any] = [token, self.stream_maxlen, REPLY_STREAM_MAXLEN]
        args += [len(acknowledged), *acknowledged, GROUP]
        lines: list[str] = []
        for row in rows:
            if row.kind != "reply" and _fits_a_line(row):
                lines.append(f"{row.kind}\t{row.target}\t{row.payload}")
                continue
            if lines:
                args.extend([LINES, "", "\n".join(lines)])
                lines = []
            payload: str | bytes = row.payload
            if row.kind == "reply":
                payload = await BinaryMessageFormatV1.encode(
                    message=json.loads(row.payload),
                    reply_to=None,
                    headers=None,
                    correlation_id=row.correlation_id or "",
                )
            args.extend([row.kind, row.target, payload])
        if lines:
            args.extend([LINES, "", "\n".join(lines)])
        keys = (
            [self.lease_key(partition), stream]
            if acknowledged
            else [self.lease_key(partition)]
        )
        done = await self._publish(keys=keys, args=args)
        return bool(done)


def _fits_a_line(row: OutboxRow) -> bool:
    return "\n" not in row.payload and "\t" not in row.target and "\n" not in row.target


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(pairs: Sequence[bytes]) -> dict[bytes, bytes]:
    """An entry's fields as a script returns them: a flat list of names and values."""
    items = iter(pairs)
    return dict(zip(items, items, strict=True))


__all__ = ["DATA_FIELD", "GROUP", "Bus"]
