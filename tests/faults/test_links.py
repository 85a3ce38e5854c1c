"""The worker's links to the database and to Redis are cut for a few seconds,
through a proxy, while commands keep coming."""

import asyncio
import json
import random

import pytest

from support.proxy import Proxy

from .conftest import FAST, LEASE_SECONDS, outcome_count, until_shared
from .epochs import epochs, record_epochs, stale_writes
from .history import Published, check_history, wait_for, wait_for_outcomes
from .workload import accounts_on, mixed

pytestmark = pytest.mark.faults

CUT_SECONDS = LEASE_SECONDS + 1
"""Longer than a lease, so a cut Redis link also costs the worker its leases."""
CHUNK = 20


@pytest.fixture
def database_link(postgres_url):
    proxy = Proxy.to_url(postgres_url).start()
    yield proxy
    proxy.close()


@pytest.fixture
def redis_link(backing):
    proxy = Proxy.to_url(backing.redis_url).start()
    yield proxy
    proxy.close()


async def test_the_worker_rides_out_cut_links_and_nothing_is_lost_or_doubled(
    postgres_url,
    backing,
    prefix,
    redis,
    streams,
    producer,
    start_worker,
    database_link,
    redis_link,
):
    worker = start_worker(
        database_link.url(postgres_url),
        prefix,
        redis_url=redis_link.url(backing.redis_url),
        **FAST,
    )
    await until_shared([worker])
    assert await _status(worker, "/readyz") == 200
    load = mixed(accounts_on(4, 2), count=3000, seed=4)
    sending = asyncio.create_task(producer.send(load, CHUNK, pause=0.1))

    await wait_for(lambda: _outcomes(redis, streams, 500), 30, "the first outcomes")
    database_link.cut()
    # The chunk on its way may have arrived before the cut; those after it not.
    before_cut = len(producer.sent) + CHUNK
    await wait_for(lambda: _is(worker, "/readyz", 503), 5, "not ready, database cut")
    await asyncio.sleep(CUT_SECONDS)
    assert not await _answered_since(redis, streams, producer.sent, before_cut)
    assert await _status(worker, "/livez") == 200
    database_link.restore()
    await wait_for(lambda: _is(worker, "/readyz", 200), 10, "ready, database back")

    answered = await outcome_count(redis, streams)
    await wait_for(lambda: _outcomes(redis, streams, answered + 300), 30, "progress")
    redis_link.cut()
    await wait_for(lambda: _is(worker, "/readyz", 503), 5, "not ready, Redis cut")
    await asyncio.sleep(CUT_SECONDS)
    redis_link.restore()
    await wait_for(lambda: _is(worker, "/readyz", 200), 10, "ready, Redis back")
    await wait_for(lambda: _is(worker, "/livez", 200), 10, "live, Redis back")

    await sending
    await wait_for_outcomes(
        redis, streams, load, timeout=60, diagnose=lambda: worker.logs_text()[-3000:]
    )
    assert worker.alive()
    await check_history(redis, streams, postgres_url, load)


async def test_a_flapping_database_link_loses_no_event(
    postgres_url, prefix, redis, streams, producer, start_worker, database_link
):
    """Cuts at random moments land now and then on a commit that goes through
    while its reply is lost: the retry finds the commands done, and the events
    that commit wrote must still be published."""
    worker = start_worker(database_link.url(postgres_url), prefix, **FAST)
    await until_shared([worker])
    load = mixed(accounts_on(4, 2), count=4000, seed=6)
    sending = asyncio.create_task(producer.send(load, 25, pause=0.05))
    rng = random.Random(6)
    for _ in range(15):
        await asyncio.sleep(rng.uniform(0.3, 0.8))
        database_link.cut()
        await asyncio.sleep(0.3)
        database_link.restore()

    await sending
    await wait_for_outcomes(redis, streams, load, timeout=60)
    await check_history(redis, streams, postgres_url, load)


async def _answered_since(redis, streams, sent, position):
    """Commands first sent from ``position`` on that have an outcome already."""
    earlier = {(c.account_id, c.command_id) for c in sent[:position]}
    later = {(c.account_id, c.command_id) for c in sent[position:]} - earlier
    answered = (await Published.read(redis, streams)).outcomes_by_command()
    return later & set(answered)


async def _status(worker, path):
    try:
        status, _ = await asyncio.to_thread(worker.get, path)
    except OSError:
        return None
    return status


async def _is(worker, path, status):
    return await _status(worker, path) == status


async def _outcomes(redis, streams, count):
    return await outcome_count(redis, streams) >= count


async def test_after_redis_forgot_everything_the_worker_recreates_what_it_needs(
    database_url, prefix, redis, streams, producer, start_worker
):
    """As after a restart of a Redis without persistence: streams, groups,
    leases and heartbeats are gone, with the worker running."""
    worker = start_worker(database_url, prefix, **FAST)
    await until_shared([worker])
    accounts = accounts_on(4, 1)
    before = mixed(accounts, count=300, seed=7)
    await producer.send(before, 100)
    await wait_for_outcomes(redis, streams, before, timeout=30)

    keys = [key async for key in redis.scan_iter(f"{prefix}.*")]
    await redis.delete(*keys)
    after = mixed(accounts, count=300, seed=8, opening=False)
    await producer.send(after, 100)
    await wait_for_outcomes(
        redis, streams, after, timeout=30, diagnose=lambda: worker.logs_text()[-3000:]
    )

    await check_history(redis, streams, database_url, after, forgotten=before)
    assert await _status(worker, "/livez") == 200
    for stream in streams.all_commands:
        groups = await redis.xinfo_groups(stream)
        assert [g["name"] for g in groups] == [b"licensing"]


async def test_a_worker_cut_off_from_redis_alone_is_fenced_out_by_its_peer(
    postgres_url,
    backing,
    prefix,
    redis,
    streams,
    producer,
    start_worker,
    redis_link,
):
    """Split brain: one worker keeps its database but loses Redis, so its
    leases run out and its peer takes its partitions while it is still busy."""
    await record_epochs(postgres_url)
    isolated = start_worker(
        postgres_url, prefix, redis_url=redis_link.url(backing.redis_url), **FAST
    )
    peer = start_worker(postgres_url, prefix, **FAST)
    await until_shared([isolated, peer])
    load = mixed(accounts_on(4, 2), count=4000, seed=10)
    sending = asyncio.create_task(producer.send(load, chunk=200, pause=0.05))
    await wait_for(lambda: _outcomes(redis, streams, 1000), 30, "a quarter of the load")

    cut_off = await _partitions_of(isolated)
    redis_link.cut()
    await wait_for(lambda: _owns(peer, 4), 20, "the peer owning every partition")
    await wait_for(
        lambda: _is(isolated, "/livez", 503), 10, "the isolated one not live"
    )
    redis_link.restore()
    await sending
    await until_shared([isolated, peer])
    await wait_for_outcomes(redis, streams, load, timeout=60)

    assert cut_off
    published = await check_history(redis, streams, postgres_url, load)
    assert not stale_writes(await epochs(postgres_url), published.events)


async def _partitions_of(worker):
    status, body = await asyncio.to_thread(worker.get, "/livez")
    return json.loads(body)["partitions"] if status == 200 else []


async def _owns(worker, count):
    return len(await _partitions_of(worker)) == count
