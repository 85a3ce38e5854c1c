"""Consuming one command partition: read, apply, publish, acknowledge, in order.

Every owner of a partition reads as the same consumer name, so a new owner
finds the entries its predecessor read but did not acknowledge in its own
pending list and finishes them first, in stream order.

Delivering a committed batch (publishing its outbox rows, acknowledging its
entries) runs while the next batch is read and applied: batches commit in
order, deliveries happen in the same order, one at a time, and the next
delivery starts only when the previous one is done.
"""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

from .. import metrics
from ..adapters.bus import Bus
from ..adapters.store import Fenced, OutboxRow, Store
from ..logs import logger
from ..settings import Settings
from .messages import Decoded, Entry, decode
from .processor import Applied, Processor

READ_BLOCK_MS = 200
FORGET_AFTER_SECONDS = 1.0
"""Published outbox rows wait this long for a batch to delete them; then, with
the stream quiet, a transaction of their own does."""
INFRASTRUCTURE_ERRORS = (
    OperationalError,
    InterfaceError,
    OSError,
    RedisConnectionError,
    RedisTimeoutError,
    asyncio.TimeoutError,
)


class PartitionLost(Exception):
    """The lease ran out or another worker took the partition."""


def is_infrastructure(error: BaseException) -> bool:
    """A failure of the database or Redis link rather than of the entry itself."""
    if getattr(error, "connection_invalidated", False):
        return True
    return isinstance(error, INFRASTRUCTURE_ERRORS)


@dataclass
class Health:
    """What the probes report about the backing services."""

    database_ok: bool = True
    redis_ok: bool = True


class Backoff:
    def __init__(self, first: float = 0.05, most: float = 5.0) -> None:
        self.first, self.most, self.next = first, most, first

    async def wait(self) -> None:
        await asyncio.sleep(self.next)
        self.next = min(self.most, self.next * 2)


class PartitionConsumer:
    """Applies the entries of one partition while this worker holds its lease."""

    def __init__(
        self,
        partition: int,
        epoch: int,
        settings: Settings,
        bus: Bus,
        store: Store,
        processor: Processor,
        health: Health,
    ) -> None:
        self.partition = partition
        self.epoch = epoch
        self.settings = settings
        self.bus = bus
        self.store = store
        self.processor = processor
        self.health = health
        self.stream = settings.streams.commands(partition)
        self.consumer = f"partition-{partition}"
        self.token = settings.worker_id
        self.stopping = False
        self.pending = 0
        # Set when a transaction failed on the link: its commit may have gone
        # through all the same, leaving outbox rows that no one has published.
        self.outbox_unsure = False
        # Outbox rows up to this id are on the streams.
        self.published_up_to = 0
        self.delivering: asyncio.Task[None] | None = None
        self.log = {"partition": partition, "epoch": epoch}

    def stop(self) -> None:
        """Finish the batch in hand, then return from ``run``."""
        self.stopping = True

    async def run(self) -> None:
        try:
            await self._consume()
            await self._delivered()
            if self.store.unforgotten(self.partition):
                await self._until_done(self._forget, "forgetting published rows")
        finally:
            if self.delivering is not None and not self.delivering.done():
                # Ended by an error or cancelled: what was not delivered stays
                # pending and in the outbox for the next owner.
                self.delivering.cancel()

    async def _consume(self) -> None:
        await self._until_done(
            lambda: self._publish_leftovers(inherited=True), "publishing the outbox"
        )
        await self._until_done(lambda: self.bus.ensure_group(self.stream), "group")
        draining = True
        last_batch = time.monotonic()
        while not self.stopping:
            entries = await self._read(draining)
            if entries is None:
                continue
            if entries:
                await self._handle(entries)
                last_batch = time.monotonic()
            elif draining:
                draining = False
            elif time.monotonic() - last_batch >= FORGET_AFTER_SECONDS:
                # Quiet for a while: no batch will come to forget the rows.
                await self._delivered()
                if self.store.unforgotten(self.partition):
                    await self._until_done(self._forget, "forgetting published rows")

    async def _forget(self) -> None:
        await self.store.published(
            self.partition, self.store.unforgotten(self.partition)
        )

    async def _read(self, draining: bool) -> list[Entry] | None:
        found: list[Entry] | None
        try:
            if draining:
                # Pending entries stay pending until delivered: read them again
                # only once the batch in delivery has been acknowledged.
                await self._delivered()
                found = await self.bus.read_pending(
                    self.stream, self.consumer, self.settings.batch_size
                )
            else:
                found = await self.bus.read_new(
                    self.partition,
                    self.token,
                    self.stream,
                    self.consumer,
                    self.settings.batch_size,
                    READ_BLOCK_MS,
                )
            self.health.redis_ok = True
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            logger.warning(
                "command stream or group vanished; recreating", extra=self.log
            )
            await self._until_done(lambda: self.bus.ensure_group(self.stream), "group")
            return None
        except INFRASTRUCTURE_ERRORS as error:
            self.health.redis_ok = False
            logger.warning("cannot read commands: %s", error, extra=self.log)
            await asyncio.sleep(0.5)
            return None
        if found is None:
            raise PartitionLost(f"lease of partition {self.partition} lost")
        return found

    async def _handle(self, entries: list[Entry]) -> None:
        started = time.perf_counter()
        decoded = [decode(entry) for entry in entries]
        self.pending += len(entries)
        results = await self._apply(decoded)
        rows = [row for result in results for row in result.outbox]
        await self._delivered()
        if self.outbox_unsure:
            # Publish those rows first, and this batch's with them, in order:
            # publishing only this batch's would mark the older ones as done.
            await self._until_done(self._publish_leftovers, "publishing the outbox")
            self.outbox_unsure = False
            rows = []
        self.delivering = asyncio.create_task(
            self._deliver_batch(rows, entries, results, started),
            name=f"licensing-delivery-{self.partition}",
        )

    async def _delivered(self) -> None:
        """Wait for the delivery in progress; its failure is this one's."""
        if self.delivering is not None:
            delivering, self.delivering = self.delivering, None
            await delivering

    async def _deliver_batch(
        self,
        rows: list[OutboxRow],
        entries: list[Entry],
        results: list[Applied],
        started: float,
    ) -> None:
        await self._until_done(lambda: self._deliver(rows, entries), "publishing")
        self.pending -= len(entries)
        self._report(results, started, len(entries))

    async def _apply(self, decoded: list[Decoded]) -> list[Applied]:
        if not self.settings.batching or len(decoded) == 1:
            return [await self._apply_one(item) for item in decoded]
        try:
            return [await self._retrying_infrastructure(decoded)]
        except (Fenced, PartitionLost):
            raise
        except Exception:
            logger.exception(
                "batch failed; applying its commands one at a time",
                extra={**self.log, "batch_size": len(decoded)},
            )
            return [await self._apply_one(item) for item in decoded]

    async def _retrying_infrastructure(self, decoded: list[Decoded]) -> Applied:
        backoff = Backoff()
        while True:
            try:
                applied = await self.processor.apply(
                    self.partition, self.epoch, decoded
                )
                self.health.database_ok = True
                return applied
            except Fenced as error:
                raise PartitionLost(str(error)) from error
            except Exception as error:
                if not is_infrastructure(error):
                    raise
                self.outbox_unsure = True
                self.health.database_ok = False
                logger.warning("database unavailable: %s", error, extra=self.log)
                if self.stopping:
                    raise PartitionLost("stopping with the database down") from error
                await backoff.wait()

    async def _apply_one(self, item: Decoded) -> Applied:
        """Apply one entry, retrying a failing one up to the delivery limit."""
        failures = item.entry.deliveries - 1
        backoff = Backoff()
        while True:
            try:
                return await self._retrying_infrastructure([item])
            except PartitionLost:
                raise
            except Exception as error:
                failures += 1
                logger.exception(
                    "command failed (attempt %d of %d)",
                    failures,
                    self.settings.max_deliveries,
                    extra={**self.log, **_ids(item)},
                )
                if failures >= self.settings.max_deliveries:
                    reason = f"failed {failures} times: {type(error).__name__}: {error}"
                    return await self._retrying_fail(item, reason[:1000])
                await backoff.wait()

    async def _retrying_fail(self, item: Decoded, reason: str) -> Applied:
        backoff = Backoff()
        while True:
            try:
                return await self.processor.fail(
                    self.partition, self.epoch, item, reason
                )
            except Fenced as error:
                raise PartitionLost(str(error)) from error
            except Exception as error:
                if not is_infrastructure(error):
                    raise
                self.outbox_unsure = True
                await backoff.wait()

    async def _deliver(self, rows: list[OutboxRow], entries: list[Entry]) -> None:
        ids = [entry.entry_id for entry in entries]
        if rows:
            await self._publish(rows, acknowledged=ids)
        else:
            await self.bus.ack(self.stream, ids)

    async def _publish(
        self, rows: list[OutboxRow], acknowledged: Sequence[str] = ()
    ) -> None:
        """Publish rows (and acknowledge entries with them) while the lease holds."""
        if not rows:
            return
        published = await self.bus.publish(
            self.partition, self.token, rows, self.stream, acknowledged
        )
        if not published:
            raise PartitionLost(f"lease of partition {self.partition} lost")
        self.published_up_to = max(self.published_up_to, rows[-1].id)
        self.store.forget(self.partition, rows[-1].id)

    async def _publish_leftovers(self, inherited: bool = False) -> None:
        """Publish what was committed but not published yet, oldest first."""
        while rows := await self.store.outbox(
            self.partition, after=self.published_up_to
        ):
            if inherited:
                # The previous owner died or lost the partition after a commit.
                logger.warning(
                    "publishing %d outbox rows an earlier owner left",
                    len(rows),
                    extra=self.log,
                )
            await self._publish(rows)

    async def _until_done(self, step: Callable[[], Awaitable[None]], what: str) -> None:
        """Run a step until it succeeds, waiting out database or Redis outages."""
        backoff = Backoff()
        while True:
            try:
                await step()
                return
            except PartitionLost:
                raise
            except Exception as error:
                if not is_infrastructure(error):
                    raise
                logger.warning("%s failed: %s", what, error, extra=self.log)
                await backoff.wait()

    def _report(self, results: list[Applied], started: float, size: int) -> None:
        elapsed = time.perf_counter() - started
        metrics.batch_size.observe(size)
        duration_ms = round(elapsed * 1000, 2)
        counted: Counter[tuple[str, str]] = Counter()
        for result in results:
            for letter in result.dead_letters:
                metrics.dead_letters.labels(letter.reason).inc()
                logger.warning(
                    "entry dead-lettered: %s",
                    letter.error,
                    extra={
                        **self.log,
                        "command_id": letter.command_id,
                        "account_id": letter.account_id,
                        "entry_id": letter.entry_id,
                        "reason": letter.reason,
                    },
                )
            for item, outcome in result.outcomes:
                label = outcome.reason.value if outcome.reason else "accepted"
                counted[(outcome.type or "unknown", label)] += 1
                metrics.command_seconds.observe(elapsed)
                logger.info(
                    "command %s",
                    outcome.status,
                    extra={
                        **self.log,
                        "command_id": outcome.command_id,
                        "account_id": outcome.account_id,
                        "command_type": outcome.type,
                        "outcome": outcome.status,
                        "reason": label if outcome.reason else None,
                        "duration_ms": duration_ms,
                        "entry_id": item.entry.entry_id,
                    },
                )
        for (command_type, label), count in counted.items():
            metrics.commands.labels(command_type, label).inc(count)


def _ids(item: Decoded) -> dict[str, object]:
    return {
        "command_id": item.command_id,
        "account_id": item.account_id,
        "entry_id": item.entry.entry_id,
    }


_ = logging
