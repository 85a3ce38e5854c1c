"""Fixtures and helpers of the fault tests: four partitions, short leases."""

import asyncio
import time
from collections.abc import Iterable, Sequence
from datetime import datetime

import pytest
from redis.asyncio import Redis

from licensing_contracts import Streams
from support.worker import WorkerProcess

from .workload import Producer

PARTITIONS = 4
LEASE_SECONDS = 3
FAST = {"partitions": PARTITIONS, "lease_seconds": LEASE_SECONDS}
"""Worker settings of these tests: a dead worker's partitions move within 3s."""


@pytest.fixture
def streams(prefix: str) -> Streams:
    return Streams(prefix, PARTITIONS)


@pytest.fixture
def producer(redis: "Redis[bytes]", streams: Streams) -> Producer:
    return Producer(redis, streams)


async def partitions(worker: WorkerProcess) -> list[int]:
    """What /livez says the worker owns; nothing if it does not answer."""
    try:
        return await asyncio.to_thread(worker.partitions)
    except OSError:
        return []


async def until_shared(
    workers: Sequence[WorkerProcess], timeout: float = 30.0
) -> float:
    """Wait until the workers own every partition between them, each its fair
    share; returns the seconds it took."""
    started = time.monotonic()
    share = -(-PARTITIONS // len(workers))
    while True:
        owned = [await partitions(w) for w in workers]
        every = sorted(p for mine in owned for p in mine)
        if every == list(range(PARTITIONS)) and all(len(o) <= share for o in owned):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            logs = "\n".join(w.logs_text()[-1500:] for w in workers)
            raise AssertionError(
                f"partitions not shared in {timeout}s: {owned}\n{logs}"
            )
        for worker in workers:
            assert worker.alive(), (
                f"{worker.name} exited:\n{worker.logs_text()[-3000:]}"
            )
        await asyncio.sleep(0.1)


async def outcome_count(redis: "Redis[bytes]", streams: Streams) -> int:
    return int(await redis.xlen(streams.outcomes))


def taken_after(
    worker: WorkerProcess, moment: datetime, wanted: Iterable[int]
) -> float:
    """Seconds from ``moment`` until the worker had taken every wanted partition,
    by its own log lines (free of the delays of polling it)."""
    times = {}
    for line in worker.log_lines():
        when = datetime.fromisoformat(line["time"])
        if line["message"] == "partition taken" and when > moment:
            times.setdefault(line["partition"], when)
    missing = set(wanted) - set(times)
    assert not missing, f"{worker.name} never took {missing}"
    return max((times[p] - moment).total_seconds() for p in wanted)
