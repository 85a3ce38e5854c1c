"""What applying commands publishes, without a database: event documents are
exactly those of the Event model, and event ids are version 4 UUIDs."""

import itertools
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from licensing.adapters.store import OutboxRow
from licensing.domain import Account, DomainEvent
from licensing.service_layer import processor
from licensing.service_layer.messages import Decoded, Entry
from licensing.service_layer.processor import Applied, Processor, _Run
from licensing_contracts import Command, Event, Streams

from .builders import (
    ADMIN,
    BILLING,
    assign,
    claim,
    create,
    delete,
    grant_admin,
    move,
    open_account,
    release,
    revoke,
    revoke_admin,
    set_purchased,
    user,
)


class ReferenceRun(_Run):
    """Publishes events the way the Event model defines them."""

    def publish_event(
        self, account: Account, command: Command, change: DomainEvent
    ) -> str:
        account.sequence += 1
        event = Event(
            event_id=processor.new_event_id(),
            type=change.type,  # type: ignore[arg-type]
            account_id=account.id,
            sequence=account.sequence,
            occurred_at=self.occurred_at,
            command_id=command.command_id,
            command_type=command.type,
            actor=command.actor,
            product=change.product,
            change=change.change,
            levels=change.levels,
        )
        payload = event.model_dump_json()
        self.events.append(
            {
                "account_id": account.id,
                "sequence": event.sequence,
                "event_id": event.event_id,
                "type": event.type,
                "product": event.product,
                "payload": payload,
            }
        )
        self.outbox.append(OutboxRow("stream", self.streams.events, payload))
        return event.event_id


def apply(run_type: type[_Run], commands: list[Command]) -> dict[str, Any]:
    """Every command through one run on a fresh account, and all it produced."""
    run = run_type(
        Processor(None, Streams()),  # type: ignore[arg-type]
        {},
        {},
        Applied(),
    )
    run.occurred_at = "2026-01-01T00:00:00.000Z"
    # Event ids both runs can agree on.
    numbers = itertools.count()
    random_ids = processor.new_event_id
    processor.new_event_id = lambda: str(uuid.UUID(int=next(numbers)))
    try:
        for n, command in enumerate(commands):
            entry = Entry("licensing.commands.0", f"1-{n}", {})
            run.one(
                Decoded(
                    entry,
                    command=command,
                    command_id=command.command_id,
                    account_id=command.account_id,
                )
            )
    finally:
        processor.new_event_id = random_ids
    account = run.accounts.get(commands[0].account_id)
    return {
        "events": run.events,
        "outbox": run.outbox,
        "processed": run.processed,
        "outcomes": [outcome for _, outcome in run.applied.outcomes],
        "sequence": account.sequence if account else None,
    }


def same_documents(commands: list[Command]) -> list[Event]:
    """Apply the commands as published and as the reference publishes them;
    they must agree on everything. The events, as read back."""
    published = apply(_Run, commands)
    assert published == apply(ReferenceRun, commands)
    events = []
    for row in published["events"]:
        event = Event.model_validate_json(row["payload"])
        assert event.model_dump_json() == row["payload"]
        assert (row["account_id"], row["sequence"], row["event_id"]) == (
            event.account_id,
            event.sequence,
            event.event_id,
        )
        assert (row["type"], row["product"]) == (event.type, event.product)
        events.append(event)
    return events


class TestEventDocuments:
    def test_every_kind_of_event_is_the_event_models_document(self):
        commands = [
            open_account(ADMIN),
            set_purchased(10),
            set_purchased(5, "studio"),
            create("eng"),
            create("qa", "eng"),
            create("web", "eng", by=user(ADMIN)),
            create("sales"),
            assign("eng", 6),
            assign("qa", 2),
            claim("u1", "qa"),
            claim("u2", "web"),
            claim("u3", None, "studio"),
            claim("u4", "sales", "studio", by=user(ADMIN)),
            claim("u1", "qa"),  # holds it already: nothing changes
            claim("u5", "qa"),
            claim("u6", "qa"),  # refused: qa's pool is used up
            claim("u1", "eng"),  # refused: claimed elsewhere
            release("u2"),
            release("u9"),  # refused: holds none
            move("qa", "sales"),
            move("web", None),
            revoke("qa"),
            assign("sales", 3),
            assign("sales", 50),  # refused: too few available
            release("u1"),
            release("u5"),
            delete("qa"),
            create("ops", "eng"),
            assign("ops", 1),
            delete("ops"),
            delete("sales"),  # refused: u4 claims there
            grant_admin("bob"),
            revoke_admin(ADMIN, by=user("bob")),
            revoke_admin("bob"),  # refused: the last admin
            move("nowhere", None),  # refused: unknown organization
            set_purchased(1),  # refused: below usage
        ]
        events = same_documents(commands)
        kinds = {(event.type, event.change["kind"]) for event in events}
        assert kinds == {
            ("account.opened", "opened"),
            ("license.changed", "purchased"),
            ("organization.changed", "created"),
            ("license.changed", "assigned"),
            ("license.changed", "claimed"),
            ("license.changed", "released"),
            ("organization.changed", "moved"),
            ("license.changed", "moved"),
            ("license.changed", "revoked"),
            ("organization.changed", "deleted"),
            ("license.changed", "deleted"),
            ("role.changed", "granted"),
            ("role.changed", "revoked"),
        }

    @settings(max_examples=150, deadline=None)
    @given(st.data())
    def test_random_commands_give_the_event_models_documents(self, data):
        organizations = st.sampled_from(["o1", "o2", "o3", "o4"])
        levels = st.none() | organizations
        products = st.sampled_from(["testops", "studio"])
        users = st.sampled_from(["u1", "u2", "u3"])
        senders = st.sampled_from([BILLING, user(ADMIN), user("u1")])
        quantities = st.integers(0, 8)
        builders = st.one_of(
            st.builds(set_purchased, quantities, products),
            st.builds(create, organizations, levels, by=senders),
            st.builds(move, organizations, levels, by=senders),
            st.builds(delete, organizations, by=senders),
            st.builds(assign, organizations, quantities, products, by=senders),
            st.builds(revoke, organizations, products, by=senders),
            st.builds(claim, users, levels, products),
            st.builds(claim, users, levels, products, by=senders),
            st.builds(release, users, products),
            st.builds(grant_admin, users, by=senders),
            st.builds(revoke_admin, users, by=senders),
        )
        commands = data.draw(st.lists(builders, min_size=1, max_size=40))
        same_documents([open_account(ADMIN), set_purchased(6), *commands])


class TestEventIds:
    def test_they_are_random_version_4_uuids_as_text(self):
        ids = [processor.new_event_id() for _ in range(5000)]
        assert len(set(ids)) == len(ids)
        for event_id in ids:
            parsed = uuid.UUID(event_id)
            assert parsed.version == 4
            assert parsed.variant == uuid.RFC_4122
            assert str(parsed) == event_id
        # Every bit but those of the version and variant is random: each is
        # 1 in some id and 0 in another.
        fixed = (0xF000 << 64) | (0xC000 << 48)
        every = (1 << 128) - 1
        in_some = 0
        in_all = every
        for event_id in ids:
            value = uuid.UUID(event_id).int
            in_some |= value
            in_all &= value
        assert in_some | fixed == every
        assert in_all & ~fixed == 0
