"""Entries that must not stop a partition: whatever a sender puts in an entry,
the worker answers it or dead-letters it, and goes on with the next one.

Each test has a worker of its own, because what it guards against would stop a
shared one. PostgreSQL, because it checks column types and lengths.
"""

import json

import pytest

from licensing_contracts import OutcomeTimeout
from store.documents import Commands, Document

pytestmark = pytest.mark.e2e

ACME = Commands("acme")
# A healthy worker answers in well under a second; a stopped partition never.
PATIENCE = 10.0


def envelope(document: Document, headers: object) -> dict[str, str]:
    """The document inside FastStream's JSON envelope, with the given headers."""
    return {"__data__": json.dumps({"data": json.dumps(document), "headers": headers})}


async def assert_the_partition_goes_on(wire, worker, entry_command_id: str) -> None:
    later = await wire.execute(ACME.set_purchased(9), timeout=PATIENCE)
    [answered] = await wire.outcomes_of(entry_command_id, timeout=PATIENCE)

    assert later.accepted
    assert answered.command_id == entry_command_id
    assert worker.get("/livez")[0] == 200


@pytest.fixture
async def worker(postgres_url, prefix, wire, start_worker):
    started = start_worker(postgres_url, prefix)
    await wire.execute(ACME.open_account())
    return started


class TestAFastStreamEnvelope:
    @pytest.mark.xfail(
        strict=True,
        raises=OutcomeTimeout,
        reason=(
            "bug: messages.decode calls headers.get on whatever the envelope holds; "
            "headers that are not an object raise AttributeError out of decode, "
            "which crashes the partition consumer on every takeover"
        ),
    )
    @pytest.mark.parametrize("headers", ["not-an-object", None, ["reply_to"]])
    async def test_whose_headers_are_not_an_object_does_not_stop_the_partition(
        self, wire, worker, headers
    ):
        command = ACME.set_purchased(3)

        await wire.add(envelope(command, headers))

        await assert_the_partition_goes_on(wire, worker, command["command_id"])

    @pytest.mark.xfail(
        strict=True,
        raises=OutcomeTimeout,
        reason=(
            "bug: messages.decode takes the reply_to header without checking it "
            "is text; PostgreSQL refuses the outbox row, every retry fails, and "
            "the processing_failed answer fails the same way: the consumer crashes"
        ),
    )
    async def test_whose_reply_to_is_not_text_does_not_stop_the_partition(
        self, wire, worker
    ):
        command = ACME.set_purchased(3)

        await wire.add(envelope(command, {"reply_to": 5}))

        await assert_the_partition_goes_on(wire, worker, command["command_id"])


class TestAReplyTo:
    @pytest.mark.xfail(
        strict=True,
        raises=OutcomeTimeout,
        reason=(
            "bug: the processor answers an invalid command on the reply_to of its "
            "raw document without checking it; one over 256 characters does not "
            "fit outbox.target on PostgreSQL and the consumer crashes"
        ),
    )
    async def test_too_long_on_an_invalid_command_does_not_stop_the_partition(
        self, wire, worker
    ):
        command = {**ACME.set_purchased(-1), "reply_to": "r" * 300}

        await wire.add_document(command)

        await assert_the_partition_goes_on(wire, worker, command["command_id"])

    @pytest.mark.xfail(
        strict=True,
        raises=OutcomeTimeout,
        reason=(
            "bug: the publish script XADDs to reply_to whatever the key is; a key "
            "that is not a stream fails the script after the outcome was added, "
            "the outbox rows stay, and every new owner adds the outcome again and "
            "crashes on the same row"
        ),
    )
    async def test_naming_a_key_that_is_not_a_stream_does_not_stop_the_partition(
        self, wire, worker, prefix
    ):
        await wire.redis.set(f"{prefix}.settings", "not a stream")
        command = {**ACME.set_purchased(3), "reply_to": f"{prefix}.settings"}

        await wire.add_document(command)

        await assert_the_partition_goes_on(wire, worker, command["command_id"])
        assert len(await wire.outcomes_of(command["command_id"])) == 1
