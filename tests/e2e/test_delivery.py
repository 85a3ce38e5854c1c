"""Delivery over Redis: exactly-once effect, command ids, where outcomes go, and
what the streams hold for subscribers that are not written in Python."""

import json
import uuid

import pytest
from faststream.redis import RedisBroker

from licensing_contracts import Outcome, event_adapter
from store.documents import Commands, again

from .wire import levels

pytestmark = pytest.mark.e2e

ACME = Commands("acme")


class TestACommandDeliveredAgain:
    async def test_three_deliveries_take_effect_once_and_get_one_outcome_each(
        self, database_url, prefix, wire, start_worker
    ):
        start_worker(database_url, prefix)
        await wire.execute_all(ACME.open_account(), ACME.set_purchased(5))
        claim = ACME.claim("dana")
        entry = {"__data__": json.dumps(claim)}

        for _ in range(3):
            await wire.add(entry)
        outcomes = await wire.outcomes_of(claim["command_id"], count=3)
        later = await wire.execute(ACME.claim("eli"))

        assert len(outcomes) == 3
        assert outcomes[0].accepted
        assert outcomes[1] == outcomes[0]
        assert outcomes[2] == outcomes[0]
        events = await wire.events_of("acme")
        claimed = [e for e in events if e["command_id"] == claim["command_id"]]
        assert [e["event_id"] for e in claimed] == outcomes[0].events
        [event] = [e for e in events if e["event_id"] in later.events]
        assert levels(event)[None] == (5, 5, 2, 3, None)

    async def test_the_same_id_with_another_body_is_refused_as_reused(
        self, database_url, prefix, wire, start_worker
    ):
        start_worker(database_url, prefix)
        await wire.execute_all(ACME.open_account(), ACME.set_purchased(5))
        claim = ACME.claim("dana")
        await wire.execute(claim)

        reused = await wire.execute(
            again(ACME.claim("eli"), command_id=claim["command_id"])
        )
        nothing_held = await wire.execute(ACME.release("eli"))

        assert reused.reason == "command_id_reused"
        assert reused.command_id == claim["command_id"]
        assert nothing_held.reason == "not_claimed"


async def test_commands_added_before_any_worker_ran_are_applied_once_it_starts(
    postgres_url, prefix, wire, start_worker
):
    commands = [ACME.open_account(), ACME.set_purchased(5), ACME.claim("dana")]
    for command in commands:
        await wire.add_document(command)

    start_worker(postgres_url, prefix)

    for command in commands:
        [outcome] = await wire.outcomes_of(command["command_id"])
        assert outcome.accepted, outcome


class TestWhereOutcomesGo:
    async def test_an_outcome_goes_to_the_outcomes_stream_and_to_reply_to(
        self, shared_wire, account
    ):
        replies = f"{shared_wire.prefix}.replies.{uuid.uuid4().hex}"
        opened = again(account.open_account(), reply_to=replies)

        await shared_wire.add_document(opened)

        [published] = await shared_wire.outcomes_of(opened["command_id"])
        [replied] = await shared_wire.wait_for(replies, lambda d: True)
        assert published.accepted
        assert Outcome.model_validate(replied) == published

    async def test_a_faststream_request_gets_the_outcome_as_its_answer(
        self, shared, shared_wire, account
    ):
        broker = RedisBroker(shared.redis_url, logger=None)
        await broker.connect()
        try:
            await shared_wire.execute(account.open_account())
            purchase = account.set_purchased(7)
            response = await broker.request(
                purchase, stream=shared_wire.streams.commands(0), timeout=30
            )
            answer = Outcome.model_validate(await response.decode())
        finally:
            await broker.stop()

        assert answer.command_id == purchase["command_id"]
        assert answer.accepted
        assert answer == (await shared_wire.outcomes_of(purchase["command_id"]))[0]

    async def test_a_faststream_publish_is_applied_like_a_plain_entry(
        self, shared, shared_wire, account
    ):
        broker = RedisBroker(shared.redis_url, logger=None)
        await broker.connect()
        opened = account.open_account()
        try:
            await broker.publish(opened, stream=shared_wire.streams.commands(0))
        finally:
            await broker.stop()

        [outcome] = await shared_wire.outcomes_of(opened["command_id"])
        assert outcome.accepted


class TestWhatSubscribersRead:
    async def test_events_are_plain_json_under_the_data_field(
        self, shared_wire, account
    ):
        opened = await shared_wire.execute(account.open_account())

        [event_id] = opened.events
        entries = await shared_wire.entries(shared_wire.streams.events)
        [fields] = [f for _, f in entries if event_id.encode() in f[b"__data__"]]
        assert list(fields) == [b"__data__"]
        event = json.loads(fields[b"__data__"].decode("utf-8"))
        assert event_adapter.validate_python(event).event_id == event_id
        assert event["type"] == "account.opened"
        assert event["account_id"] == account.account_id
        assert event["sequence"] == 1

    async def test_outcomes_are_plain_json_under_the_data_field(
        self, shared_wire, account
    ):
        opened = await shared_wire.execute(account.open_account())

        entries = await shared_wire.entries(shared_wire.streams.outcomes)
        [fields] = [
            f for _, f in entries if opened.command_id.encode() in f[b"__data__"]
        ]
        assert list(fields) == [b"__data__"]
        assert json.loads(fields[b"__data__"].decode("utf-8"))["status"] == "accepted"
