"""The store, one behaviour suite for SQLite and PostgreSQL alike.

Commands go in as stream entries through the processor, in batches as the
partition consumer applies them; what is checked is what the database holds
afterwards: figures, counters, history, outbox, and the schema itself.
"""

import asyncio
import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect, update
from sqlalchemy.exc import IntegrityError

from licensing.adapters import tables
from licensing.adapters.store import Fenced, OutboxRow
from licensing.domain import Account, handle
from licensing.domain.audit import violations
from licensing_contracts import command_adapter

from .documents import Commands, Document, again
from .helpers import (
    STREAMS,
    Partition,
    StatementLog,
    figures,
    history,
    statuses,
    stored,
)

ACME = Commands("acme")
ALLOCATION = tables.allocations.c
BATCH_SIZE = 100
# Long enough for a takeover that does not wait to finish.
TAKEOVER_WAIT = 0.5
FOUR_ORGANIZATIONS = [("a", 20), ("b", 10), ("c", 1), ("d", 5)]


def accepted(count: int) -> list[str]:
    return ["accepted"] * count


class TestTheSpecExamples:
    async def test_four_organizations_take_their_licenses_out_of_the_account_pool(
        self, partition, store
    ):
        setup = [ACME.open_account(), ACME.set_purchased(200)]
        for org, quantity in FOUR_ORGANIZATIONS:
            setup += [ACME.create(org), ACME.assign(org, quantity)]
        assert statuses(await partition.apply(*setup)) == accepted(len(setup))

        account = await stored(store)
        assert figures(account, None) == (200, 164, 0, 164)
        for org, quantity in FOUR_ORGANIZATIONS:
            assert figures(account, org) == (quantity, quantity, 0, quantity)

        first, second = await partition.one_by_one(
            ACME.claim("dana", at="c"), ACME.claim("eli", at="c")
        )
        assert statuses([first, second]) == ["accepted", "no_license_available"]
        account = await stored(store)
        assert figures(account, "c") == (1, 1, 1, 0)
        assert violations(account) == []

    async def test_a_parent_pool_covers_one_sub_organization_of_five_not_six(
        self, partition, store
    ):
        await partition.apply(
            ACME.open_account(),
            ACME.set_purchased(200),
            ACME.create("parent"),
            ACME.assign("parent", 10),
            ACME.create("first", under="parent"),
            ACME.assign("first", 5),
        )
        assert figures(await stored(store), "parent") == (10, 5, 0, 5)

        await partition.apply(ACME.create("second", under="parent"))
        six, five = await partition.one_by_one(
            ACME.assign("second", 6), ACME.assign("second", 5)
        )

        assert six.reason == "insufficient_pool"
        assert six.details["pool"] == 5
        assert five.accepted
        account = await stored(store)
        assert figures(account, "parent") == (10, 0, 0, 0)
        assert figures(account, "second") == (5, 5, 0, 5)
        assert violations(account) == []


def mixed_history() -> list[Document]:
    """Every kind of change to counters: nested sharing and funded levels, claims
    through them, a level becoming funded, a move, a revoke, a delete."""
    return [
        ACME.open_account(),
        ACME.set_purchased(100),
        ACME.create("eng"),
        ACME.assign("eng", 30),
        ACME.create("web", under="eng"),
        ACME.create("api", under="eng"),
        ACME.assign("api", 10),
        ACME.create("qa", under="web"),
        ACME.claim("dana", at="qa"),
        ACME.claim("eli", at="web"),
        ACME.claim("fay", at="api"),
        ACME.claim("gus"),
        ACME.create("ops"),
        ACME.claim("hal", at="ops"),
        ACME.assign("web", 5),
        ACME.move("qa", under="ops"),
        ACME.revoke("api"),
        ACME.release("eli"),
        ACME.create("tmp", under="ops"),
        ACME.assign("tmp", 3),
        ACME.delete("tmp"),
        ACME.set_purchased(120),
        ACME.claim("ivy", at="web"),
        ACME.move("api", under="web"),
    ]


def replayed(documents: list[Document]) -> Account:
    """The same commands through the rules alone, on an account kept in memory."""
    account = None
    for document in documents:
        account, _ = handle(account, command_adapter.validate_python(document))
    assert account is not None
    return account


def state(account: Account) -> dict[str, object]:
    """What the store must keep of an account: tree, counters, claims, admins."""
    counters = {
        key: (found.dedicated, found.handed, found.drawn)
        for key, found in account.allocations.items()
        # A level never given anything is the same as one with no row.
        if (found.dedicated, found.handed, found.drawn)
        != (0 if key[0] is None else None, 0, 0)
    }
    organizations = {
        org.id: (org.parent_id, org.depth, org.children)
        for org in account.organizations.values()
        if org is not None
    }
    return {
        "admins": account.admins,
        "organizations": organizations,
        "counters": counters,
        "claims": account.claims,
    }


class TestCountersKept:
    @pytest.mark.parametrize("batching", ["one batch", "a batch per command"])
    async def test_the_stored_counters_are_those_a_recomputation_finds(
        self, partition, store, batching
    ):
        commands = mixed_history()
        if batching == "one batch":
            outcomes = await partition.apply(*commands)
        else:
            outcomes = await partition.one_by_one(*commands)
        assert statuses(outcomes) == accepted(len(commands))

        account = await stored(store)
        assert violations(account) == []
        assert state(account) == state(replayed(commands))

    async def test_a_refused_command_leaves_the_stored_account_as_it_was(
        self, partition, store
    ):
        await partition.apply(*mixed_history())
        before = state(await stored(store))

        refused = await partition.apply(
            ACME.claim("jo", at="nowhere"),
            ACME.assign("eng", 1),
            ACME.delete("ops"),
            ACME.set_purchased(1),
        )

        assert statuses(refused) == [
            "unknown_organization",
            "below_usage",
            "not_empty",
            "below_usage",
        ]
        assert state(await stored(store)) == before


class TestACommandDeliveredAgain:
    async def test_twice_in_one_batch_it_takes_effect_once_and_is_answered_alike(
        self, partition, store
    ):
        await partition.apply(ACME.open_account(), ACME.set_purchased(10))
        claim = ACME.claim("dana")

        first, second = await partition.apply(claim, claim)

        assert first.accepted
        assert second == first
        assert figures(await stored(store), None) == (10, 10, 1, 9)
        claimed = [
            e for e in await history(store) if e["command_id"] == claim["command_id"]
        ]
        assert [e["event_id"] for e in claimed] == first.events

    async def test_in_a_later_batch_it_gets_its_first_outcome_and_changes_nothing(
        self, partition, store
    ):
        await partition.apply(ACME.open_account(), ACME.set_purchased(10))
        claim = ACME.claim("dana")
        [first] = await partition.apply(claim)
        events_before = await history(store)

        [second] = await partition.apply(claim)

        assert second == first
        assert figures(await stored(store), None) == (10, 10, 1, 9)
        assert await history(store) == events_before

    async def test_a_refusal_is_repeated_even_when_the_command_would_now_pass(
        self, partition, store
    ):
        await partition.apply(ACME.open_account(), ACME.set_purchased(1))
        await partition.apply(ACME.claim("dana"))
        eli = ACME.claim("eli")
        [refused] = await partition.apply(eli)
        await partition.apply(ACME.set_purchased(2))

        [again_refused] = await partition.apply(eli)

        assert refused.reason == "no_license_available"
        assert again_refused == refused
        assert ("testops", "eli") not in (await stored(store)).claims

    async def test_another_reply_stream_does_not_make_it_another_command(
        self, partition, store
    ):
        await partition.apply(ACME.open_account(), ACME.set_purchased(10))
        claim = again(ACME.claim("dana"), reply_to="first.replies")
        [first] = await partition.apply(claim)

        [second] = await partition.apply(again(claim, reply_to="retry.replies"))

        assert second == first
        assert figures(await stored(store), None) == (10, 10, 1, 9)


class TestACommandIdUsedAgain:
    async def test_for_another_command_it_is_refused_and_changes_nothing(
        self, partition, store
    ):
        await partition.apply(ACME.open_account(), ACME.set_purchased(10))
        claim = ACME.claim("dana")
        await partition.apply(claim)

        [reused] = await partition.apply(
            again(ACME.claim("eli"), command_id=claim["command_id"])
        )

        assert reused.reason == "command_id_reused"
        assert reused.command_id == claim["command_id"]
        account = await stored(store)
        assert figures(account, None) == (10, 10, 1, 9)
        assert ("testops", "eli") not in account.claims

    async def test_within_one_batch_the_second_body_is_refused(self, partition, store):
        await partition.apply(ACME.open_account(), ACME.set_purchased(10))
        claim = ACME.claim("dana")
        other = again(ACME.claim("eli"), command_id=claim["command_id"])

        first, reused = await partition.apply(claim, other)

        assert statuses([first, reused]) == ["accepted", "command_id_reused"]
        assert figures(await stored(store), None) == (10, 10, 1, 9)

    async def test_it_is_still_the_original_outcome_that_a_redelivery_gets(
        self, partition
    ):
        await partition.apply(ACME.open_account(), ACME.set_purchased(10))
        claim = ACME.claim("dana")
        [first] = await partition.apply(claim)
        await partition.apply(again(ACME.claim("eli"), command_id=claim["command_id"]))

        [redelivered] = await partition.apply(claim)

        assert redelivered == first

    async def test_the_same_id_in_another_account_is_another_command(
        self, partition, store
    ):
        globex = Commands("globex")
        opened = ACME.open_account()
        await partition.apply(opened)

        [other] = await partition.apply(
            again(globex.open_account(), command_id=opened["command_id"])
        )

        assert other.accepted
        assert await store.account("globex") is not None


class TestEvents:
    async def test_each_account_numbers_its_events_from_one_without_gaps(
        self, partition, store
    ):
        globex = Commands("globex")
        outcomes = await partition.apply(
            ACME.open_account(),
            globex.open_account(),
            ACME.set_purchased(5),
            ACME.claim("dana", at="nowhere"),
            globex.set_purchased(7),
        )
        outcomes += await partition.one_by_one(
            ACME.create("web"),
            globex.claim("dana", at="nowhere"),
            globex.create("ops"),
            ACME.assign("web", 2),
            ACME.claim("eli", at="web"),
        )

        for account_id in ("acme", "globex"):
            events = await history(store, account_id)
            assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
            caused = [
                event_id
                for outcome in outcomes
                if outcome.account_id == account_id
                for event_id in outcome.events
            ]
            assert [e["event_id"] for e in events] == caused
            assert (await stored(store, account_id)).sequence == len(events)
        assert len(await history(store, "acme")) == 5

    async def test_a_refused_command_causes_no_event(self, partition, store):
        await partition.apply(ACME.open_account(), ACME.set_purchased(1))
        before = await history(store)

        [refused] = await partition.apply(ACME.claim("dana", at="nowhere"))

        assert refused.events == []
        assert await history(store) == before

    async def test_history_pages_by_sequence(self, partition, store):
        await partition.apply(
            ACME.open_account(), ACME.set_purchased(5), ACME.create("web")
        )

        page = [json.loads(p) for p in await store.history("acme", after=1, limit=1)]

        assert [e["sequence"] for e in page] == [2]


def outbox_shape(rows) -> list[tuple[str, str, str]]:
    """(kind, target, what) of each outbox row: an event id or a command id."""
    shape = []
    for row in rows:
        document = json.loads(row.payload)
        what = document.get("event_id") or document["command_id"]
        shape.append((row.kind, row.target, what))
    return shape


class TestTheOutbox:
    async def test_each_outcome_follows_the_events_it_caused(self, partition, store):
        commands = [
            ACME.open_account(),
            ACME.set_purchased(5),
            ACME.claim("dana", at="nowhere"),
            again(ACME.claim("dana"), reply_to="checkout.replies"),
        ]

        outcomes = await partition.apply(*commands)

        expected = []
        for outcome in outcomes:
            expected += [("stream", STREAMS.events, e) for e in outcome.events]
            expected.append(("stream", STREAMS.outcomes, outcome.command_id))
        expected.append(
            ("reply_stream", "checkout.replies", commands[-1]["command_id"])
        )
        rows = await store.outbox(0)
        assert outbox_shape(rows) == expected
        ids = [row.id for row in rows]
        assert ids == sorted(ids)

    async def test_an_unreadable_entry_is_dead_lettered_and_the_batch_goes_on(
        self, partition, store
    ):
        opened, purchased = ACME.open_account(), ACME.set_purchased(5)

        outcomes = await partition.apply(opened, b"{not json", purchased)

        assert statuses(outcomes) == ["accepted", "accepted"]
        letters = [
            json.loads(row.payload)
            for row in await store.outbox(0)
            if row.target == STREAMS.dead_letters
        ]
        assert [(d["entry_id"], d["reason"]) for d in letters] == [
            ("2-0", "invalid_command")
        ]
        assert figures(await stored(store), None) == (5, 5, 0, 5)

    async def test_what_the_batch_returns_is_what_the_outbox_holds(
        self, partition, store
    ):
        applied = await partition.batch(ACME.open_account(), ACME.set_purchased(5))

        assert applied.outbox == await store.outbox(0)

    async def test_published_rows_leave_it_and_later_ones_stay(self, partition, store):
        first = await partition.batch(ACME.open_account())
        later = await partition.batch(ACME.set_purchased(5))

        await store.published(0, first.outbox[-1].id)

        assert await store.outbox(0) == later.outbox
        await store.published(0, later.outbox[-1].id)
        assert await store.outbox(0) == []

    async def test_a_forgotten_row_goes_with_the_next_batch_of_its_partition(
        self, partition, store
    ):
        first = await partition.batch(ACME.open_account())
        store.forget(0, first.outbox[-1].id)

        assert await store.outbox(0) == first.outbox, "kept until a batch commits"
        later = await partition.batch(ACME.set_purchased(5))
        assert await store.outbox(0) == later.outbox
        assert store.unforgotten(0) == 0

    async def test_unpublished_rows_after_an_id_are_the_rest(self, partition, store):
        first = await partition.batch(ACME.open_account())
        later = await partition.batch(ACME.set_purchased(5))

        assert await store.outbox(0, after=first.outbox[-1].id) == later.outbox

    @pytest.mark.parametrize(
        "correlation_id", [None, "plain", "tab\there", "line\nbreak", '"[quoted]"']
    )
    async def test_a_bundle_gives_back_every_row_as_written(
        self, store, correlation_id
    ):
        epoch = await store.take_partition(0, "store-tests")
        rows = [
            OutboxRow("stream", STREAMS.events, '{"n":1,"text":"a\\tb\\nc"}'),
            OutboxRow("reply", "inbox.1", "{}", correlation_id),
            OutboxRow("reply_stream", "replies", '{"n":"\u00e9\\u2028"}'),
            OutboxRow("stream", STREAMS.outcomes, "[]"),
        ]
        async with store.batch(0, epoch) as batch:
            written = await batch.record([], [], rows)

        assert [(r.kind, r.target, r.payload, r.correlation_id) for r in written] == [
            (r.kind, r.target, r.payload, r.correlation_id) for r in rows
        ]
        assert await store.outbox(0) == written

    async def test_payloads_with_line_breaks_are_written_a_row_each(self, store):
        epoch = await store.take_partition(0, "store-tests")
        rows = [OutboxRow("stream", "s", "{\n}"), OutboxRow("stream", "s", "{}")]
        async with store.batch(0, epoch) as batch:
            written = await batch.record([], [], rows)

        assert [r.payload for r in await store.outbox(0)] == ["{\n}", "{}"]
        assert written[0].id < written[1].id

    async def test_each_partition_publishes_only_its_own(self, partition, store):
        other = Partition(store, 1, await store.take_partition(1, "store-tests"))
        mine = await partition.batch(ACME.open_account())
        theirs = await other.batch(Commands("globex").open_account())

        await store.published(0, max(row.id for row in mine.outbox + theirs.outbox))

        assert await store.outbox(0) == []
        assert await store.outbox(1) == theirs.outbox


class TestFencing:
    async def test_taking_a_partition_raises_its_epoch(self, store):
        first = await store.take_partition(0, "one")
        second = await store.take_partition(0, "two")

        assert second == first + 1
        assert await store.take_partition(1, "one") == 1

    async def test_a_batch_of_an_older_owner_is_fenced_and_commits_nothing(self, store):
        older = Partition(store, 0, await store.take_partition(0, "older"))
        newer = Partition(store, 0, await store.take_partition(0, "newer"))
        opened = ACME.open_account()

        with pytest.raises(Fenced):
            await older.apply(opened, ACME.set_purchased(5))

        assert await store.account("acme") is None
        assert await store.outbox(0) == []
        [outcome] = await newer.apply(opened)
        assert outcome.accepted
        assert [e["command_id"] for e in await history(store)] == [opened["command_id"]]

    async def test_a_takeover_waits_for_the_batch_in_hand_which_commits_whole(
        self, store
    ):
        epoch = await store.take_partition(0, "older")
        row = OutboxRow("stream", STREAMS.events, "{}")

        async with store.batch(0, epoch) as batch:
            await batch.record([], [], [row])
            takeover = asyncio.create_task(store.take_partition(0, "newer"))
            done, _ = await asyncio.wait({takeover}, timeout=TAKEOVER_WAIT)
            assert not done, "the takeover did not wait for the batch in hand"

        assert await takeover == epoch + 1
        assert [r.payload for r in await store.outbox(0)] == ["{}"]
        with pytest.raises(Fenced):
            await Partition(store, 0, epoch).apply(ACME.open_account())


class TestTheDatabaseGuardsTheInvariant:
    @pytest.mark.parametrize(
        ("level", "counters", "constraint"),
        [
            ("qa", {"drawn": ALLOCATION.dedicated + 1}, "within_dedicated"),
            ("qa", {"handed": ALLOCATION.dedicated + 1}, "within_dedicated"),
            ("", {"drawn": ALLOCATION.dedicated}, "within_dedicated"),
            ("qa", {"drawn": -1}, "counters_not_negative"),
        ],
        ids=["claims", "sub-levels", "account", "negative"],
    )
    async def test_a_write_that_breaks_it_is_refused_even_past_the_rules(
        self, partition, store, level, counters, constraint
    ):
        await partition.apply(
            ACME.open_account(),
            ACME.set_purchased(10),
            ACME.create("qa"),
            ACME.assign("qa", 1),
            ACME.claim("dana"),
        )
        before = state(await stored(store))

        with pytest.raises(IntegrityError, match=constraint):
            async with store.engine.begin() as connection:
                await connection.execute(
                    update(tables.allocations)
                    .where(
                        ALLOCATION.account_id == "acme", ALLOCATION.level_id == level
                    )
                    .values(**counters)
                )

        assert state(await stored(store)) == before


async def account_of_size(partition: Partition, account_id: str, size: int) -> Commands:
    """An account with ``size`` organizations and as many claims, and one funded
    organization (team, 5 licenses) where ``held`` holds one."""
    account = Commands(account_id)
    setup = [
        account.open_account(),
        account.set_purchased(size + 100),
        account.create("team"),
        account.assign("team", 5),
        account.claim("held", at="team"),
    ]
    setup += [account.create(f"org-{n}") for n in range(size)]
    setup += [account.claim(f"user-{n}", at=f"org-{n}") for n in range(size)]
    for start in range(0, len(setup), BATCH_SIZE):
        outcomes = await partition.apply(*setup[start : start + BATCH_SIZE])
        assert statuses(outcomes) == accepted(len(outcomes))
    return account


async def cost(partition: Partition, document: Document) -> list[tuple[str, str, int]]:
    """The statements, with their rows, of a batch of one command."""
    with StatementLog(partition.store) as log:
        [outcome] = await partition.apply(document)
    assert outcome.accepted, outcome
    assert log.rows > 0
    return log.statements


class TestTheCostOfAClaim:
    async def test_claims_and_releases_touch_as_many_rows_among_1000_as_among_10(
        self, partition, store
    ):
        small = await account_of_size(partition, "small", 10)
        large = await account_of_size(partition, "large", 1000)

        costs = {}
        for account in (small, large):
            # The same start for both: the first claim reads the account whole
            # (as after a restart), the others find it in the worker's cache.
            store.cache.clear()
            costs[account.account_id] = [
                await cost(partition, account.claim("newcomer", at="org-7")),
                await cost(partition, account.claim("another", at="team")),
                await cost(partition, account.release("held")),
            ]

        assert costs["large"] == costs["small"]


def schema_differences(connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, tables.metadata)


def check_constraints(connection) -> dict[str, set[str]]:
    found = inspect(connection)
    return {
        table: {check["name"] for check in found.get_check_constraints(table)}
        for table in tables.metadata.tables
    }


class TestTheMigrations:
    async def test_they_create_exactly_the_schema_the_code_declares(self, store):
        async with store.engine.connect() as connection:
            differences = await connection.run_sync(schema_differences)

        assert differences == []

    async def test_they_create_the_check_constraints_the_code_declares(self, store):
        declared = {
            name: {
                constraint.name
                for constraint in table.constraints
                if isinstance(constraint, CheckConstraint)
            }
            for name, table in tables.metadata.tables.items()
        }

        async with store.engine.connect() as connection:
            created = await connection.run_sync(check_constraints)

        assert created == declared
        assert "ck_allocations_within_dedicated" in created["allocations"]
