"""Entries that are not commands of the contract: each is copied to the dead
letters with why, answered with invalid_command when its ids can be read, and
the worker goes on serving."""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from store.documents import Commands, Document

from .wire import levels

pytestmark = pytest.mark.e2e


def data(document: Any) -> dict[str, Any]:
    return {"__data__": json.dumps(document)}


def without(document: Document, field: str) -> Document:
    return {k: v for k, v in document.items() if k != field}


@dataclass(frozen=True)
class Malformed:
    """An entry built from a valid command of the account, and what is wrong."""

    entry: Callable[[Commands], dict[str, Any]]
    error: str
    ids_readable: bool


MALFORMED = {
    "not JSON": Malformed(
        lambda a: {"__data__": "claim one licence for dana, please"},
        "the entry is not JSON",
        ids_readable=False,
    ),
    "nested past the recursion limit": Malformed(
        lambda a: {"__data__": "[" * 50_000 + "]" * 50_000},
        "the entry is not readable JSON: nested too deeply",
        ids_readable=False,
    ),
    "binary bytes": Malformed(
        lambda a: {"__data__": b"\xff\xfe\x00\x81licensing"},
        "the entry is not UTF-8 text",
        ids_readable=False,
    ),
    "no __data__ field": Malformed(
        lambda a: {"command": json.dumps(a.claim("dana"))},
        "the entry has no __data__ field",
        ids_readable=False,
    ),
    "a JSON array": Malformed(
        lambda a: data([a.claim("dana")]),
        "the entry is not a JSON object",
        ids_readable=False,
    ),
    "unknown type": Malformed(
        lambda a: data({**a.claim("dana"), "type": "steal_license"}),
        "'steal_license'",
        ids_readable=True,
    ),
    "a missing field": Malformed(
        lambda a: data(without(a.claim("dana"), "product")),
        "claim.product: Field required",
        ids_readable=True,
    ),
    "a quantity as text": Malformed(
        lambda a: data({**a.set_purchased(5), "quantity": "5"}),
        "set_purchased.quantity: Input should be a valid integer",
        ids_readable=True,
    ),
    "a negative quantity": Malformed(
        lambda a: data(a.set_purchased(-1)),
        "set_purchased.quantity: Input should be greater than or equal to 0",
        ids_readable=True,
    ),
    "a quantity above 10,000,000": Malformed(
        lambda a: data(a.set_purchased(10_000_001)),
        "set_purchased.quantity: Input should be less than or equal to 10000000",
        ids_readable=True,
    ),
    "an identifier with a space": Malformed(
        lambda a: data(a.claim("dana", at="acme corp")),
        "claim.organization_id: String should match pattern",
        ids_readable=True,
    ),
    "an identifier of 129 characters": Malformed(
        lambda a: data(a.claim("u" * 129)),
        "claim.user_id: String should have at most 128 characters",
        ids_readable=True,
    ),
    "over 64 KiB": Malformed(
        lambda a: data({**a.create("qa"), "name": "q" * 70_000}),
        "at most 65536",
        ids_readable=True,
    ),
}


def readable_ids(fields: dict[str, Any]) -> tuple[str, str] | None:
    try:
        document = json.loads(fields["__data__"])
        return document["command_id"], document["account_id"]
    except (KeyError, TypeError, ValueError):
        return None


def as_printed(value: str | bytes) -> str:
    """How a dead letter shows a field: text, or base64 if it is not UTF-8."""
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(value).decode()


@pytest.fixture
async def opened(shared_wire, account):
    await shared_wire.execute_all(account.open_account(), account.set_purchased(5))
    return account


def cases() -> list[Any]:
    params = []
    for name, case in MALFORMED.items():
        params.append(pytest.param(case, id=name))
    return params


class TestAMalformedEntry:
    @pytest.mark.parametrize("case", cases())
    async def test_is_dead_lettered_with_why_and_the_worker_goes_on(
        self, shared_wire, opened, case
    ):
        fields = case.entry(opened)

        entry_id = await shared_wire.add(fields)
        letter = await shared_wire.dead_letter_of(entry_id)
        after = await shared_wire.execute(opened.claim("dana"))

        assert letter["reason"] == "invalid_command"
        assert case.error in letter["error"]
        assert letter["stream"] == shared_wire.streams.commands(0)
        assert letter["fields"] == {k: as_printed(v) for k, v in fields.items()}
        assert after.accepted
        if case.ids_readable:
            command_id, account_id = readable_ids(fields)
            # An entry's outcome and dead letter leave in one atomic publish.
            [outcome] = [
                o
                for o in await shared_wire.documents(shared_wire.streams.outcomes)
                if o["command_id"] == command_id
            ]
            assert outcome["status"] == "rejected"
            assert outcome["reason"] == "invalid_command"
            assert outcome["account_id"] == account_id
            assert case.error in outcome["message"]
            assert letter["command_id"] == command_id

    async def test_a_readable_one_is_also_answered_on_its_reply_stream(
        self, shared_wire, opened
    ):
        replies = f"{shared_wire.prefix}.replies.malformed"
        document = {**opened.set_purchased(-1), "reply_to": replies}

        await shared_wire.add(data(document))

        [answer] = await shared_wire.wait_for(
            replies, lambda d: d["command_id"] == document["command_id"]
        )
        assert answer["reason"] == "invalid_command"

    async def test_none_of_them_changes_the_account(self, shared_wire, opened):
        for case in MALFORMED.values():
            await shared_wire.add(case.entry(opened))

        claimed = await shared_wire.execute(opened.claim("dana"))

        [event_id] = claimed.events
        [event] = await shared_wire.wait_for(
            shared_wire.streams.events, lambda e: e["event_id"] == event_id
        )
        assert levels(event) == {None: (5, 5, 1, 4, None)}
