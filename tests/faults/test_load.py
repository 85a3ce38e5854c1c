"""Two workers share four partitions under a mixed load on small pools."""

import time

import pytest

from .conftest import FAST
from .history import check_history, reasons, wait_for_outcomes
from .workload import accounts_on, mixed

pytestmark = pytest.mark.faults


async def test_two_workers_never_over_allocate_and_agree_with_a_replay(
    postgres_url, prefix, redis, streams, producer, start_worker
):
    first = start_worker(postgres_url, prefix, **FAST)
    first.wait_owning(4)
    second = start_worker(postgres_url, prefix, **FAST)
    load = mixed(accounts_on(4, 2), count=3000, seed=1)

    started = time.monotonic()
    await producer.send(load, chunk=50, pause=0.02)
    await wait_for_outcomes(
        redis, streams, load, timeout=90, diagnose=lambda: first.logs_text()[-2000:]
    )
    print("took", time.monotonic() - started)

    published = await check_history(redis, streams, postgres_url, load)
    print(reasons(published))
    assert sorted(first.partitions() + second.partitions()) == [0, 1, 2, 3]
