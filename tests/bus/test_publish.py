"""Publishing outbox rows through the Lua script: every message arrives where it
was addressed, in order, byte for byte, whether it travelled in a run of
lines or as arguments of its own."""

import pytest

from licensing.adapters.bus import Bus
from licensing.adapters.store import OutboxRow
from licensing_contracts import Streams

TOKEN = "owner"


@pytest.fixture
async def bus(redis, prefix):
    bus = Bus(redis, prefix, stream_maxlen=10_000)
    await bus.ensure_group(Streams(prefix).commands(0))
    await bus.acquire(0, TOKEN, ttl_ms=10_000)
    return bus


async def payloads(redis, stream: str) -> list[bytes]:
    return [fields[b"__data__"] for _id, fields in await redis.xrange(stream)]


async def test_messages_keep_their_order_and_bytes_whatever_they_hold(
    bus, redis, prefix
):
    events, replies = f"{prefix}.events", f"{prefix}.replies\tof ada"
    rows = [
        OutboxRow("stream", events, '{"n":1,"name":"tab\\there"}'),
        OutboxRow("reply_stream", f"{prefix}.replies", '{"n":2}'),
        OutboxRow("stream", events, ""),
        OutboxRow("stream", events, "not as pydantic writes:\na raw line break"),
        OutboxRow("stream", events, '{"n":"ünïcode ✓"}'),
        OutboxRow("reply_stream", replies, '{"n":3}'),  # a tab in the target
        OutboxRow("stream", events, "\tleading tab, trailing tab\t"),
    ]

    assert await bus.publish(0, TOKEN, rows)

    assert await payloads(redis, events) == [
        b'{"n":1,"name":"tab\\there"}',
        b"",
        b"not as pydantic writes:\na raw line break",
        '{"n":"ünïcode ✓"}'.encode(),
        b"\tleading tab, trailing tab\t",
    ]
    assert await payloads(redis, f"{prefix}.replies") == [b'{"n":2}']
    assert await payloads(redis, replies) == [b'{"n":3}']


async def test_a_batch_of_messages_arrives_whole_and_acknowledges_its_entries(
    bus, redis, prefix
):
    stream = Streams(prefix).commands(0)
    entries = [await redis.xadd(stream, {"__data__": "{}"}) for _ in range(3)]
    await redis.xreadgroup("licensing", "partition-0", {stream: ">"})
    rows = [
        OutboxRow("stream", f"{prefix}.events", f'{{"n":{n}}}') for n in range(1200)
    ]

    assert await bus.publish(
        0, TOKEN, rows, stream, acknowledged=[e.decode() for e in entries]
    )

    assert await payloads(redis, f"{prefix}.events") == [
        f'{{"n":{n}}}'.encode() for n in range(1200)
    ]
    assert (await redis.xpending(stream, "licensing"))["pending"] == 0


async def test_a_worker_without_the_lease_publishes_nothing(bus, redis, prefix):
    rows = [OutboxRow("stream", f"{prefix}.events", '{"n":1}')]

    assert not await bus.publish(0, "someone-else", rows)

    assert await payloads(redis, f"{prefix}.events") == []
