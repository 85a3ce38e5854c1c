"""Entries that must not stop a partition: whatever a sender puts in an entry,
the worker answers it or dead-letters it, and goes on with the next one.

Each test has a worker of its own, because what it guards against would stop a
shared one. PostgreSQL, because it checks column types and lengths.
"""

import json

import pytest

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
    @pytest.mark.parametrize("headers", ["not-an-object", None, ["reply_to"]])
    async def test_whose_headers_are_not_an_object_does_not_stop_the_partition(
        self, wire, worker, headers
    ):
        command = ACME.set_purchased(3)

        await wire.add(envelope(command, headers))

        await assert_the_partition_goes_on(wire, worker, command["command_id"])

    async def test_whose_reply_to_is_not_text_does_not_stop_the_partition(
        self, wire, worker
    ):
        command = ACME.set_purchased(3)

        await wire.add(envelope(command, {"reply_to": 5}))

        await assert_the_partition_goes_on(wire, worker, command["command_id"])


class TestAReplyTo:
    async def test_too_long_on_an_invalid_command_does_not_stop_the_partition(
        self, wire, worker
    ):
        command = {**ACME.set_purchased(-1), "reply_to": "r" * 300}

        await wire.add_document(command)

        await assert_the_partition_goes_on(wire, worker, command["command_id"])

    async def test_naming_a_key_that_is_not_a_stream_does_not_stop_the_partition(
        self, wire, worker, prefix
    ):
        await wire.redis.set(f"{prefix}.settings", "not a stream")
        command = {**ACME.set_purchased(3), "reply_to": f"{prefix}.settings"}

        await wire.add_document(command)

        await assert_the_partition_goes_on(wire, worker, command["command_id"])
        assert len(await wire.outcomes_of(command["command_id"])) == 1
