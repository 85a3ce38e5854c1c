"""A worker that lost a partition's lease cannot take that partition's entries.

Every owner reads as the same consumer and looks at its pending entries only
when it starts; an entry a stale owner took with XREADGROUP > after that would
sit pending, unseen, while the entries after it were applied: out of order,
and never answered. The pause test meets this by chance; here it is on purpose.
"""

import pytest
from redis.exceptions import ResponseError

from licensing.adapters.bus import Bus
from licensing_contracts import Streams

pytestmark = pytest.mark.faults

CONSUMER = "partition-0"


@pytest.fixture
async def bus(redis, prefix):
    bus = Bus(redis, prefix, stream_maxlen=1000)
    await bus.ensure_group(Streams(prefix).commands(0))
    return bus


async def test_a_stale_owner_reads_nothing_and_leaves_the_entries_to_the_owner(
    bus, redis, prefix
):
    stream = Streams(prefix).commands(0)
    await bus.acquire(0, "new-owner", ttl_ms=5000)
    added = await redis.xadd(stream, {"__data__": "{}"})

    stale = await bus.read_new(0, "old-owner", stream, CONSUMER, 10, 10)
    fresh = await bus.read_new(0, "new-owner", stream, CONSUMER, 10, 10)

    assert stale is None
    assert [entry.entry_id for entry in fresh or []] == [added.decode()]


async def test_an_owner_with_nothing_to_read_waits_and_then_gets_what_arrives(
    bus, redis, prefix
):
    stream = Streams(prefix).commands(0)
    await bus.acquire(0, "owner", ttl_ms=5000)
    await redis.xadd(stream, {"__data__": "{}"})
    assert len(await bus.read_new(0, "owner", stream, CONSUMER, 10, 10) or []) == 1

    waited = await bus.read_new(0, "owner", stream, CONSUMER, 10, 50)
    second = await redis.xadd(stream, {"__data__": "{}"})
    got = await bus.read_new(0, "owner", stream, CONSUMER, 10, 50)

    assert waited == []
    assert [entry.entry_id for entry in got or []] == [second.decode()]


async def test_a_lost_lease_is_noticed_even_with_nothing_to_read(bus, prefix):
    stream = Streams(prefix).commands(0)
    assert await bus.read_new(0, "nobody", stream, CONSUMER, 10, 10) is None


async def test_a_vanished_group_is_reported_as_such(bus, redis, prefix):
    stream = Streams(prefix).commands(0)
    await bus.acquire(0, "owner", ttl_ms=5000)
    await redis.delete(stream)

    with pytest.raises(ResponseError, match="NOGROUP"):
        await bus.read_new(0, "owner", stream, CONSUMER, 10, 10)
