"""Fixtures of the fault tests: four partitions, short leases, a producer."""

import pytest
from redis.asyncio import Redis

from licensing_contracts import Streams

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
