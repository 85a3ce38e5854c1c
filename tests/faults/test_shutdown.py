"""SIGTERM in the middle of a load: the worker finishes the batch in hand,
publishes it, hands its partitions back at once and exits cleanly."""

import asyncio
import time
from datetime import UTC, datetime

import pytest

from .conftest import (
    PARTITIONS,
    outcome_count,
    partitions,
    taken_after,
    until_shared,
)
from .history import check_history, wait_for, wait_for_outcomes
from .workload import accounts_on, mixed

pytestmark = pytest.mark.faults

LEASE_SECONDS = 15
"""The default: a lease left to expire would hold a partition for 10 seconds."""
SETTINGS = {"partitions": PARTITIONS, "lease_seconds": LEASE_SECONDS}


async def test_sigterm_hands_everything_over_at_once_and_exits_cleanly(
    postgres_url, prefix, redis, streams, producer, start_worker
):
    first = start_worker(postgres_url, prefix, **SETTINGS)
    second = start_worker(postgres_url, prefix, **SETTINGS)
    await until_shared([first, second])
    load = mixed(accounts_on(4, 2), count=6000, seed=9)
    # A burst of 3,000 waits in the streams before the rest follows in small
    # chunks, so that however fast the workers are, a backlog is waiting when
    # the first one is stopped after 1,000 outcomes.
    await producer.send(load[:3000], chunk=3000)
    sending = asyncio.create_task(producer.send(load[3000:], chunk=200, pause=0.01))
    await wait_for(
        lambda: _outcomes(redis, streams, 1000), 30, "the load under way", every=0.02
    )

    handed = await partitions(first)
    backlog = len(producer.sent) - await outcome_count(redis, streams)
    asked, asked_at = time.monotonic(), datetime.now(UTC)
    code = await asyncio.to_thread(first.terminate, 12)
    exited = time.monotonic() - asked
    await wait_for(lambda: _owns(second, 4), 10, "the peer owning every partition")
    taken = taken_after(second, asked_at, handed)
    await sending
    await wait_for_outcomes(redis, streams, load, timeout=60)

    assert handed, "the worker should own partitions when told to stop"
    assert backlog > 0, "the worker should be told to stop in the middle of a load"
    assert code == 0
    assert exited < 10, f"it took {exited:.1f}s to exit"
    # Its leases, left alone, would have held the partitions for 10 seconds.
    assert taken < LEASE_SECONDS * 2 / 3 / 2, f"its partitions moved after {taken:.1f}s"
    published = await check_history(redis, streams, postgres_url, load)
    # Every entry answered once: nothing it had read was left to answer again.
    assert len(published.outcomes) == len(load)
    inherited = [
        line
        for line in second.log_lines()
        if line["message"].endswith("outbox rows an earlier owner left")
    ]
    assert not inherited, "it should publish all it committed before leaving"
    assert any(line["message"] == "worker stopped" for line in first.log_lines())


async def _outcomes(redis, streams, count):
    return await outcome_count(redis, streams) >= count


async def _owns(worker, count):
    return len(await partitions(worker)) == count
