"""Which worker consumes which partition: leases in Redis, epochs in the database.

Each worker heartbeats, renews the leases it holds, and aims at a fair share
(partitions divided by live workers, rounded up): it takes free partitions
while below its share and hands back the extras while above it. A worker that
dies stops renewing; its leases expire and the others take the partitions.
"""

import asyncio
import contextlib
import hashlib
import math
import time

from .. import metrics
from ..adapters.bus import Bus
from ..adapters.store import Store
from ..logs import logger
from ..settings import Settings
from .consumer import Health, PartitionConsumer, PartitionLost, is_infrastructure
from .processor import Processor


class Worker:
    """Owns partitions and runs a consumer for each of them."""

    def __init__(self, settings: Settings, bus: Bus, store: Store) -> None:
        self.settings = settings
        self.bus = bus
        self.store = store
        self.processor = Processor(store, settings.streams, settings.max_depth)
        self.health = Health()
        self.consumers: dict[int, tuple[PartitionConsumer, asyncio.Task[None]]] = {}
        self.failed = False
        self.last_tick = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.ttl_ms = int(settings.lease_seconds * 1000 * 2 / 3)
        self.tick = min(1.0, settings.lease_seconds / 15)

    @property
    def partitions(self) -> list[int]:
        return sorted(self.consumers)

    def live(self) -> bool:
        """False once the consumers or the ownership loop have stopped working."""
        if self.failed or self._task is None or self._task.done():
            return False
        if time.monotonic() - self.last_tick > self.settings.lease_seconds:
            return False
        return all(not task.done() for _, task in self.consumers.values())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._own(), name="licensing-ownership")

    async def stop(self) -> None:
        """Finish the batches in hand, hand back every lease, leave."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=self.settings.drain_seconds)
        await asyncio.gather(
            *(self._give_up(p) for p in list(self.consumers)), return_exceptions=True
        )
        try:
            await self.bus.leave(self.settings.worker_id)
        except Exception as error:
            logger.warning("could not leave the worker set: %s", error)
        logger.info("worker stopped", extra={"worker_id": self.settings.worker_id})

    async def _own(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._balance()
                self.health.redis_ok = True
                self.last_tick = time.monotonic()
            except Exception as error:
                if not is_infrastructure(error):
                    logger.exception("ownership loop failed")
                    self.failed = True
                    raise
                self.health.redis_ok = False
                logger.warning("cannot reach Redis for leases: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.tick)

    async def _balance(self) -> None:
        me = self.settings.worker_id
        await self.bus.heartbeat(me, self.ttl_ms)
        for partition in list(self.consumers):
            consumer, task = self.consumers[partition]
            if task.done():
                self._forget_finished(partition, task)
            elif not await self.bus.renew(partition, me, self.ttl_ms):
                logger.warning("lease lost", extra=consumer.log)
                task.cancel()
                # It may have ended on its own meanwhile, fenced: that is expected.
                task.add_done_callback(_retrieve)
                self.consumers.pop(partition)

        total = self.settings.partitions
        share = math.ceil(total / max(1, len(await self.bus.workers())))
        while len(self.consumers) > share:
            await self._give_up(max(self.consumers))
        if len(self.consumers) < share:
            holders = await self.bus.holders(total)
            # A partition whose lease ran out while this worker was stalled
            # may still have its old consumer here, not yet found out: taking
            # it now would leave that consumer running beside the new one,
            # reading with the same token. The next round retires it first.
            free = [
                p
                for p in range(total)
                if holders[p] is None and p not in self.consumers
            ]
            # Taking waits for the previous owner's open transaction: never so
            # long that the leases this worker holds expire meanwhile.
            deadline = time.monotonic() + self.ttl_ms / 3000
            for partition in sorted(free, key=lambda p: _preference(me, p)):
                if len(self.consumers) >= share or time.monotonic() > deadline:
                    break
                await self._take(partition, deadline)
        metrics.partitions_owned.set(len(self.consumers))
        metrics.pending_entries.set(sum(c.pending for c, _ in self.consumers.values()))

    async def _take(self, partition: int, deadline: float) -> None:
        me = self.settings.worker_id
        if not await self.bus.acquire(partition, me, self.ttl_ms):
            return
        try:
            epoch = await asyncio.wait_for(
                self.store.take_partition(partition, me),
                max(0.1, deadline - time.monotonic()),
            )
            self.health.database_ok = True
        except TimeoutError:
            logger.warning(
                "partition %d waits on its previous owner's transaction; "
                "trying again later",
                partition,
                extra={"partition": partition},
            )
            await self.bus.release(partition, me)
            return
        except Exception as error:
            self.health.database_ok = False
            logger.warning("cannot take partition %d: %s", partition, error)
            await self.bus.release(partition, me)
            return
        consumer = PartitionConsumer(
            partition,
            epoch,
            self.settings,
            self.bus,
            self.store,
            self.processor,
            self.health,
        )
        task = asyncio.create_task(
            consumer.run(), name=f"licensing-partition-{partition}"
        )
        self.consumers[partition] = (consumer, task)
        logger.info("partition taken", extra={**consumer.log, "worker_id": me})

    async def _give_up(self, partition: int) -> None:
        consumer, task = self.consumers.pop(partition)
        consumer.stop()
        done, _ = await asyncio.wait([task], timeout=self.settings.drain_seconds)
        if not done:
            task.cancel()
        await self.bus.release(partition, self.settings.worker_id)
        logger.info("partition handed back", extra=consumer.log)

    def _forget_finished(self, partition: int, task: asyncio.Task[None]) -> None:
        consumer, _ = self.consumers.pop(partition)
        error = None if task.cancelled() else task.exception()
        if isinstance(error, PartitionLost):
            logger.warning("partition lost: %s", error, extra=consumer.log)
        elif error is not None:
            self.failed = True
            logger.error(
                "partition consumer crashed", exc_info=error, extra=consumer.log
            )


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


def _preference(worker_id: str, partition: int) -> bytes:
    """Rendezvous order: each worker prefers different partitions, stably."""
    return hashlib.sha256(f"{worker_id}/{partition}".encode()).digest()
