"""Two workers share four partitions under load; the second joins midway, so
partitions change hands while commands keep coming."""

import asyncio

import pytest

from .conftest import FAST, outcome_count, until_shared
from .history import check_history, reasons, wait_for, wait_for_outcomes
from .workload import accounts_on, mixed, pairs

pytestmark = pytest.mark.faults


async def test_two_workers_never_over_allocate_and_agree_with_a_replay(
    postgres_url, prefix, redis, streams, producer, start_worker
):
    load = mixed(accounts_on(4, 2), count=4000, seed=1)
    workers = await _second_joins_midway(
        load, postgres_url, prefix, redis, streams, producer, start_worker
    )

    published = await check_history(redis, streams, postgres_url, load)
    found = reasons(published)
    assert found["no_license_available"] > 100, found
    assert found["accepted"] > 1000, found
    assert all(_applied_by(worker) for worker in workers)


async def test_a_claim_and_its_release_sent_back_to_back_are_both_accepted(
    postgres_url, prefix, redis, streams, producer, start_worker
):
    load = pairs(accounts_on(4, 2), users=150)
    workers = await _second_joins_midway(
        load, postgres_url, prefix, redis, streams, producer, start_worker
    )

    published = await check_history(redis, streams, postgres_url, load)
    assert reasons(published) == {"accepted": len(load)}
    assert all(_applied_by(worker) for worker in workers)


async def _second_joins_midway(
    load, postgres_url, prefix, redis, streams, producer, start_worker
):
    first = start_worker(postgres_url, prefix, **FAST)
    await until_shared([first])
    # A slow trickle until the second worker has its share, the rest at once.
    joined = asyncio.Event()
    sending = asyncio.create_task(producer.send(load, 20, pause=0.1, until=joined))
    await wait_for(lambda: _outcomes(redis, streams, 200), 30, "the first outcomes")
    second = start_worker(postgres_url, prefix, **FAST)
    await until_shared([first, second])
    assert not sending.done(), "the load should still be coming in"
    joined.set()
    await sending
    await wait_for_outcomes(redis, streams, load, timeout=60)
    return first, second


def _applied_by(worker):
    return any(line.get("command_id") for line in worker.log_lines())


async def _outcomes(redis, streams, count):
    return await outcome_count(redis, streams) >= count
