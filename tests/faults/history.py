"""What the service published and stored, judged against the pure domain.

The fault tests look at nothing but the streams and the database: every
command has an outcome, no command took effect twice, no event was lost, and
the figures are those of a replay of the commands, in stream order, through
``licensing.domain.handle``.
"""

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select

from licensing.adapters import tables
from licensing.adapters.database import create_engine
from licensing.adapters.store import Store
from licensing.domain import Account, Refused, handle
from licensing.domain.audit import violations
from licensing_contracts import DATA_FIELD, Command, Event, Outcome, Streams
from licensing_contracts.events import DeadLetter

_DATA = DATA_FIELD.encode()


async def entries(redis: "Redis[bytes]", stream: str) -> list[tuple[str, bytes]]:
    """Every entry of a stream, oldest first, as (entry id, JSON document)."""
    found: list[tuple[str, bytes]] = []
    start = "-"
    while True:
        page = await redis.xrange(stream, min=start, count=5000)
        found += [(i.decode(), f[_DATA]) for i, f in page]
        if len(page) < 5000:
            return found
        start = "(" + page[-1][0].decode()


@dataclass
class Published:
    """The outcomes, events and dead letters on the streams of one prefix."""

    outcomes: list[Outcome] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @classmethod
    async def read(cls, redis: "Redis[bytes]", streams: Streams) -> "Published":
        return cls(
            [
                Outcome.model_validate_json(d)
                for _, d in await entries(redis, streams.outcomes)
            ],
            [
                Event.model_validate_json(d)
                for _, d in await entries(redis, streams.events)
            ],
            [
                DeadLetter.model_validate_json(d)
                for _, d in await entries(redis, streams.dead_letters)
            ],
        )

    def outcomes_by_command(self) -> dict[tuple[str | None, str | None], list[Outcome]]:
        found: dict[tuple[str | None, str | None], list[Outcome]] = defaultdict(list)
        for outcome in self.outcomes:
            found[(outcome.account_id, outcome.command_id)].append(outcome)
        return found


async def wait_for_outcomes(
    redis: "Redis[bytes]",
    streams: Streams,
    commands: Sequence[Command],
    timeout: float,
    diagnose: Callable[[], str] = lambda: "",
) -> None:
    """Poll the outcomes stream until every command has at least one outcome."""
    missing = {(c.account_id, c.command_id) for c in commands}
    position = "0-0"
    deadline = time.monotonic() + timeout
    while missing and time.monotonic() < deadline:
        response = await redis.xread(
            {streams.outcomes: position}, count=5000, block=200
        )
        for _stream, page in response or ():
            for entry_id, fields in page:
                position = entry_id.decode()
                outcome = Outcome.model_validate_json(fields[_DATA])
                missing.discard((outcome.account_id, outcome.command_id))
    if missing:
        sample = sorted(missing, key=str)[:5]
        raise AssertionError(
            f"{len(missing)} commands have no outcome after {timeout}s, "
            f"e.g. {sample}\n{diagnose()}"
        )


async def wait_for(
    check: Callable[[], Any], timeout: float, what: str, every: float = 0.1
) -> float:
    """Poll a check (sync or async) until true; returns the seconds it took."""
    started = time.monotonic()
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not reached in {timeout}s")
        await asyncio.sleep(every)


@dataclass
class Replay:
    """The commands run through the pure domain, one account at a time, in order."""

    accounts: dict[str, Account | None] = field(default_factory=dict)
    outcomes: dict[tuple[str, str], tuple[str, str | None, int]] = field(
        default_factory=dict
    )
    """(account, command) -> (status, reason, number of events)."""
    events: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    """account -> what each of its events must say, in sequence order."""

    @classmethod
    def of(
        cls, commands: Iterable[Command], skip: set[tuple[str, str]] = frozenset()
    ) -> "Replay":
        """Replay commands; a repeated command id is answered, not applied again.
        Commands in ``skip`` (dead-lettered ones) are left out."""
        replay = cls()
        for command in commands:
            key = (command.account_id, command.command_id)
            if key in replay.outcomes or key in skip:
                continue
            replay.outcomes[key] = replay._run(command)
        return replay

    def _run(self, command: Command) -> tuple[str, str | None, int]:
        account = self.accounts.get(command.account_id)
        try:
            account, changes = handle(account, command)
        except Refused as refusal:
            return "rejected", str(refusal.reason), 0
        assert account is not None
        account.changes.clear()
        account.sequence += len(changes)  # the processor numbers the events
        self.accounts[command.account_id] = account
        for change in changes:
            self.events[account.id].append(
                {
                    "type": change.type,
                    "command_id": command.command_id,
                    "product": change.product,
                    "change": change.change,
                    "levels": [f.model_dump() for f in change.levels],
                }
            )
        return "accepted", None, len(changes)


def shape(account: Account | None) -> dict[str, Any] | None:
    """What an account holds, in plain values, without the defaults the domain
    fills in when it looks at a level that never had anything."""
    if account is None:
        return None
    allocations = {}
    for (level, product), a in account.allocations.items():
        values = (a.dedicated, a.handed, a.drawn)
        if values != ((0 if level is None else None), 0, 0):
            allocations[(level or "", product)] = values
    return {
        "admins": sorted(account.admins),
        "sequence": account.sequence,
        "organizations": {
            o.id: (o.parent_id, o.name, o.depth, o.children)
            for o in account.organizations.values()
            if o is not None
        },
        "allocations": dict(sorted(allocations.items())),
        "claims": dict(sorted(account.claims.items(), key=str)),
    }


def never_over_allocated(events: Iterable[Event]) -> list[str]:
    """Every figure of every event that shows a funded level handing out more
    than it has."""
    found = []
    for event in events:
        for level in event.levels:
            if level.dedicated is None:
                continue
            assert level.pool is not None
            if level.available < 0 or level.assigned_users > level.pool:
                found.append(
                    f"{event.account_id}#{event.sequence} {level.organization_id}: "
                    f"pool {level.pool}, assigned {level.assigned_users}, "
                    f"available {level.available}"
                )
    return found


def unique_events(events: Iterable[Event]) -> dict[str, list[Event]]:
    """account -> its events without repeats (same event id), by sequence.
    A repeat must be the same event; two events with one sequence are an error."""
    by_id: dict[str, Event] = {}
    for event in events:
        known = by_id.setdefault(event.event_id, event)
        assert known == event, f"event {event.event_id} published with two bodies"
    found: dict[str, list[Event]] = defaultdict(list)
    for event in by_id.values():
        found[event.account_id].append(event)
    for account_events in found.values():
        account_events.sort(key=lambda e: e.sequence)
    return found


async def stored_events(url: str) -> dict[str, list[tuple[int, str]]]:
    """account -> (sequence, event id) of its events in the database."""
    engine = create_engine(url)
    try:
        e = tables.events.c
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(e.account_id, e.sequence, e.event_id).order_by(
                    e.account_id, e.sequence
                )
            )
            found: dict[str, list[tuple[int, str]]] = defaultdict(list)
            for row in rows:
                found[row.account_id].append((row.sequence, row.event_id))
            return found
    finally:
        await engine.dispose()


async def stored_accounts(url: str, ids: Iterable[str]) -> dict[str, Account | None]:
    store = Store(create_engine(url))
    try:
        return {account_id: await store.account(account_id) for account_id in ids}
    finally:
        await store.close()


async def outbox_rows(url: str, partitions: Iterable[int] | None = None) -> int:
    engine = create_engine(url)
    try:
        o = tables.outbox.c
        query = select(o.id)
        if partitions is not None:
            query = query.where(o.partition.in_(list(partitions)))
        async with engine.connect() as connection:
            return len((await connection.execute(query)).all())
    finally:
        await engine.dispose()


async def check_history(
    redis: "Redis[bytes]",
    streams: Streams,
    url: str,
    commands: Sequence[Command],
    *,
    dead: set[tuple[str, str]] = frozenset(),
    forgotten: Sequence[Command] = (),
) -> Published:
    """Judge everything published and stored for these commands; returns what
    was published for further checks. ``dead`` names the commands expected to be
    dead-lettered as processing_failed; ``forgotten`` ones came before
    ``commands`` and were applied, but Redis has since lost their streams."""
    published = await Published.read(redis, streams)
    replay = Replay.of([*forgotten, *commands], skip=dead)
    before = Replay.of(forgotten, skip=dead).events
    by_command = published.outcomes_by_command()
    problems: list[str] = []

    # Every command has an outcome; repeats of an outcome are the same outcome.
    for command in commands:
        key = (command.account_id, command.command_id)
        found = by_command.get(key)
        if not found:
            problems.append(f"no outcome for {key}")
            continue
        first = found[0]
        for other in found[1:]:
            if (other.status, other.reason, other.events) != (
                first.status,
                first.reason,
                first.events,
            ):
                problems.append(f"two different outcomes for {key}: {first} / {other}")
        if key in dead:
            if first.reason != "processing_failed":
                problems.append(f"{key} was not dead-lettered: {first}")
            continue
        expected = replay.outcomes[key]
        actual = (first.status, first.reason and str(first.reason), len(first.events))
        if actual != expected:
            problems.append(f"{key}: outcome {actual}, replay says {expected}")

    # Events: no repeats with another body, gap-free, as the replay says, and
    # caused by exactly the outcomes that list them.
    events = unique_events(published.events)
    listed = {e for o in published.outcomes for e in o.events}
    for account_id, expected in replay.events.items():
        lost = len(before.get(account_id, []))
        expected = expected[lost:]
        got = [e for e in events.get(account_id, []) if e.sequence > lost]
        sequences = [e.sequence for e in got]
        if sequences != list(range(lost + 1, lost + len(got) + 1)):
            problems.append(f"{account_id}: sequences with gaps or repeats")
        if len(got) != len(expected):
            problems.append(
                f"{account_id}: {len(got)} events published, replay has {len(expected)}"
            )
        for event, want in zip(got, expected, strict=False):
            have = {
                "type": event.type,
                "command_id": event.command_id,
                "product": event.product,
                "change": event.change,
                "levels": [f.model_dump() for f in event.levels],
            }
            if have != want:
                problems.append(
                    f"{account_id}#{event.sequence}: published {have}, replay {want}"
                )
                break
        unlisted = [e.event_id for e in got if e.event_id not in listed]
        if unlisted:
            problems.append(f"{account_id}: events no outcome lists: {unlisted[:3]}")
    problems += never_over_allocated(published.events)

    # The database: the same events, no more, and the figures of the replay.
    stored = await stored_events(url)
    accounts = await stored_accounts(url, replay.accounts)
    for account_id, want in replay.accounts.items():
        history = stored.get(account_id, [])
        if [s for s, _ in history] != list(range(1, len(history) + 1)):
            problems.append(f"{account_id}: stored sequences with gaps")
        lost = len(before.get(account_id, []))
        on_stream = [(e.sequence, e.event_id) for e in events.get(account_id, [])]
        if history[lost:] != [(s, e) for s, e in on_stream if s > lost]:
            problems.append(
                f"{account_id}: {len(history)} events stored, "
                f"{len(on_stream)} published, or with other ids"
            )
        have = accounts[account_id]
        if shape(have) != shape(want):
            problems.append(
                f"{account_id}: stored {shape(have)}\n replay {shape(want)}"
            )
        if have is not None and (found := violations(have)):
            problems.append(f"{account_id}: counters wrong: {found}")

    assert not problems, "\n".join(problems[:20])
    return published


def reasons(published: Published) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for outcome in published.outcomes:
        found[str(outcome.reason) if outcome.reason else "accepted"] += 1
    return dict(found)
