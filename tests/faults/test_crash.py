"""A worker dies (SIGKILL) or stalls (SIGSTOP) in the middle of a load."""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from licensing.adapters import tables as t
from licensing.adapters.database import create_engine

from .conftest import (
    FAST,
    LEASE_SECONDS,
    outcome_count,
    partitions,
    taken_after,
    until_shared,
)
from .epochs import epochs, record_epochs, stale_writes
from .history import check_history, wait_for, wait_for_outcomes
from .workload import accounts_on, mixed

pytestmark = pytest.mark.faults


async def test_a_killed_workers_partitions_move_on_with_nothing_lost_or_doubled(
    postgres_url, prefix, redis, streams, producer, start_worker
):
    await record_epochs(postgres_url)
    first = start_worker(postgres_url, prefix, **FAST)
    second = start_worker(postgres_url, prefix, **FAST)
    await until_shared([first, second])
    load = mixed(accounts_on(4, 2), count=4000, seed=2)
    sending = asyncio.create_task(producer.send(load, chunk=200, pause=0.05))
    await wait_for(lambda: _outcomes(redis, streams, 1000), 30, "a quarter of the load")

    victims = await partitions(first)
    in_hand = await _kill_with_entries_in_hand(first, redis, streams, victims)
    killed = datetime.now(UTC)
    await wait_for(lambda: _owns(second, 4), 20, "the peer taking over")
    took = taken_after(second, killed, victims)
    restarted = start_worker(postgres_url, prefix, **FAST)
    await sending
    await until_shared([second, restarted])
    await wait_for_outcomes(redis, streams, load, timeout=60)

    assert any(in_hand), "the kill should land while entries are in hand"
    assert took < LEASE_SECONDS * 1.5, f"the takeover took {took:.1f}s"
    published = await check_history(redis, streams, postgres_url, load)
    assert not stale_writes(await epochs(postgres_url), published.events)


async def test_a_paused_worker_commits_and_publishes_nothing_once_its_partitions_moved(
    postgres_url, prefix, redis, streams, producer, start_worker
):
    await record_epochs(postgres_url)
    first = start_worker(postgres_url, prefix, **FAST)
    second = start_worker(postgres_url, prefix, **FAST)
    await until_shared([first, second])
    load = mixed(accounts_on(4, 2), count=4000, seed=3)
    sending = asyncio.create_task(producer.send(load, chunk=200, pause=0.05))
    await wait_for(lambda: _outcomes(redis, streams, 1000), 30, "a quarter of the load")

    held, kept = await partitions(first), await partitions(second)
    before = await _epochs_now(postgres_url)
    paused = datetime.now(UTC)
    first.pause()
    try:
        # Past its lease, twice over: its peer takes what it can meanwhile.
        await asyncio.sleep(LEASE_SECONDS * 2)
        during = await partitions(second)
    finally:
        first.resume()
    await sending
    await until_shared([first, second])
    await wait_for_outcomes(redis, streams, load, timeout=60)

    published = await check_history(redis, streams, postgres_url, load)
    written = await epochs(postgres_url)
    assert not stale_writes(written, published.events)
    latest = {p: max(e for q, e in written.values() if q == p) for p in held}
    assert all(latest[p] > before[p] for p in held), "its partitions should move"
    assert set(kept) <= set(during), "its peer should keep its own partitions"
    noticed = {
        line["partition"]
        for line in first.log_lines()
        if line["message"].startswith(("lease lost", "partition lost"))
        and datetime.fromisoformat(line["time"]) > paused
    }
    assert noticed >= set(held)


async def _epochs_now(url):
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(t.partitions))
            return {row.partition: row.epoch for row in rows}
    finally:
        await engine.dispose()


async def _outcomes(redis, streams, count):
    return await outcome_count(redis, streams) >= count


async def _owns(worker, count):
    return len(await partitions(worker)) == count


async def _kill_with_entries_in_hand(worker, redis, streams, victims):
    """SIGKILL the worker at a moment it holds read but unacknowledged entries.

    The worker is frozen (SIGSTOP) while its pending entries are counted, so the
    count still holds when the kill lands; if it holds none, it runs a little
    longer and is tried again.
    """
    in_hand = [0]
    for _ in range(200):
        worker.pause()
        in_hand = [await _pending(redis, streams, p) for p in victims]
        if any(in_hand):
            break
        worker.resume()
        await asyncio.sleep(0.01)
    worker.kill()
    return in_hand


async def _pending(redis, streams, partition):
    summary = await redis.xpending(streams.commands(partition), "licensing")
    return summary["pending"]
