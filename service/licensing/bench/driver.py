"""The load generator: send commands over Redis, time each one to its outcome.

A command's clock starts on the sending side (just before its XADD, or, open
loop, at the moment the schedule says it is due, so that a generator running
late does not hide the delay) and stops when its outcome is read from the
outcomes stream.
"""

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from licensing_contracts import DATA_FIELD, Streams

from .workload import Sent

_DATA = DATA_FIELD.encode()
READ_COUNT = 2000
READ_BLOCK_MS = 50


@dataclass
class Phase:
    """What one stretch of load produced."""

    name: str
    latencies: dict[str, list[float]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    received: int = 0
    first_send: float | None = None
    last_outcome: float | None = None
    started: float = field(default_factory=time.perf_counter)
    missing: int = 0

    @property
    def seconds(self) -> float:
        if self.first_send is None or self.last_outcome is None:
            return 0.0
        return self.last_outcome - self.first_send

    @property
    def throughput(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0


Settled = Callable[[Sent, bool], None]


class Driver:
    """Sends commands and matches outcomes to them, for one stream prefix."""

    def __init__(self, redis: Redis, streams: Streams) -> None:
        self.redis = redis
        self.streams = streams
        self.pending: dict[str, tuple[Sent, float]] = {}
        self.arrived = asyncio.Event()
        self.phase = Phase("idle")
        self.settled: Settled | None = None
        self._reader: asyncio.Task[None] | None = None
        self._position = "0-0"
        self.watch: Callable[[], None] = lambda: None
        """Raises when the workers died: no outcome will come then."""

    async def start(self) -> None:
        last: Any = await self.redis.xrevrange(self.streams.outcomes, count=1)
        if last:
            self._position = last[0][0].decode()
        self._reader = asyncio.create_task(self._read(), name="bench-outcomes")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        outcomes = self.streams.outcomes
        while True:
            response: Any = await self.redis.xread(
                {outcomes: self._position}, count=READ_COUNT, block=READ_BLOCK_MS
            )
            if not response:
                continue
            entries = response[0][1]
            now = time.perf_counter()
            for _entry_id, fields in entries:
                self._settle(fields, now)
            self._position = entries[-1][0].decode()
            self.arrived.set()

    def _settle(self, fields: dict[bytes, bytes], now: float) -> None:
        document = json.loads(fields[_DATA])
        found = self.pending.pop(document.get("command_id"), None)
        if found is None:
            return
        sent, sent_at = found
        phase = self.phase
        phase.latencies.setdefault(sent.kind, []).append(now - sent_at)
        accepted = document["status"] == "accepted"
        phase.outcomes["accepted" if accepted else document["reason"]] += 1
        phase.received += 1
        phase.last_outcome = now
        if self.settled is not None:
            self.settled(sent, accepted)

    async def send(self, batch: list[Sent], due: list[float] | None = None) -> None:
        """XADD a batch in one round trip; ``due`` are open-loop send times."""
        if not batch:
            return
        pipe = self.redis.pipeline(transaction=False)
        for sent in batch:
            pipe.xadd(self.streams.commands_of(sent.account_id), {_DATA: sent.payload})
        now = time.perf_counter()
        times: Iterable[float] = due if due is not None else [now] * len(batch)
        for sent, at in zip(batch, times, strict=True):
            self.pending[sent.command_id] = (sent, at)
        phase = self.phase
        if phase.first_send is None:
            phase.first_send = min(now, due[0]) if due else now
        phase.sent += len(batch)
        await pipe.execute()

    async def _arrival(self, timeout: float) -> bool:
        """Wait for outcomes to arrive; False if none did in ``timeout`` seconds."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.watch()
            if self._reader is not None and self._reader.done():
                self._reader.result()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 0.5)
                return True
        return False

    async def _drain(self, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while self.pending and time.perf_counter() < deadline:
            self.arrived.clear()
            await self._arrival(0.5)
        self.phase.missing = len(self.pending)
        self.pending.clear()

    def begin(self, name: str, settled: Settled | None = None) -> Phase:
        self.phase = Phase(name)
        self.settled = settled
        return self.phase

    async def closed_loop(
        self,
        name: str,
        source: Callable[[], Sent | None],
        in_flight: int,
        duration: float | None = None,
        settled: Settled | None = None,
        drain_timeout: float = 60.0,
    ) -> Phase:
        """Keep ``in_flight`` commands outstanding until the time is up or the
        source runs dry; then wait for the outcomes still due."""
        phase = self.begin(name, settled)
        deadline = None if duration is None else time.perf_counter() + duration
        exhausted = False
        while not exhausted and (deadline is None or time.perf_counter() < deadline):
            batch: list[Sent] = []
            while len(self.pending) + len(batch) < in_flight:
                sent = source()
                if sent is None:
                    exhausted = True
                    break
                batch.append(sent)
            self.arrived.clear()
            await self.send(batch)
            if self.pending and not await self._arrival(drain_timeout):
                break
        await self._drain(drain_timeout)
        return phase

    async def open_loop(
        self,
        name: str,
        source: Callable[[], Sent | None],
        rate: float,
        duration: float,
        settled: Settled | None = None,
        drain_timeout: float = 60.0,
    ) -> Phase:
        """Send at a fixed rate whatever the outcomes do, for ``duration`` seconds."""
        phase = self.begin(name, settled)
        start = time.perf_counter()
        count = 0
        while True:
            now = time.perf_counter()
            if now - start >= duration:
                break
            due = int((now - start) * rate) + 1 - count
            batch: list[Sent] = []
            for _ in range(max(0, due)):
                sent = source()
                if sent is None:
                    break
                batch.append(sent)
            times = [start + (count + k) / rate for k in range(len(batch))]
            await self.send(batch, times)
            count += len(batch)
            self.watch()
            await asyncio.sleep(max(0.0, start + count / rate - time.perf_counter()))
        await self._drain(drain_timeout)
        return phase


def summary(values: list[float]) -> dict[str, Any]:
    """Latency percentiles in milliseconds (nearest rank)."""
    if not values:
        return dict.fromkeys(("p50", "p95", "p99", "max", "mean"), None) | {"count": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        index = max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))
        return round(ordered[int(index)] * 1000, 3)

    return {
        "count": len(ordered),
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "max": round(ordered[-1] * 1000, 3),
        "mean": round(sum(ordered) / len(ordered) * 1000, 3),
    }
