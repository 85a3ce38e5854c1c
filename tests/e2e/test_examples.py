"""The spec's two examples, sent over Redis to a real worker process."""

import uuid
from typing import Any

import pytest

from licensing_contracts import AsyncLicensingClient, Outcome, command_adapter
from store.documents import Commands

from .wire import Wire, levels

pytestmark = pytest.mark.e2e

BILLING = {"kind": "service", "id": "billing"}
ADMIN = {"kind": "user", "id": "ada"}


async def send(client: AsyncLicensingClient, **body: Any) -> Outcome:
    body.setdefault("command_id", str(uuid.uuid4()))
    body.setdefault("account_id", "acme")
    return await client.execute(command_adapter.validate_python(body), timeout=30)


async def test_the_first_example_of_the_spec(
    database_url, prefix, client, start_worker
):
    start_worker(database_url, prefix)
    await send(client, type="open_account", actor=BILLING, admins=["ada"])
    await send(
        client, type="set_purchased", actor=BILLING, product="testops", quantity=200
    )
    for org, quantity in (("a", 20), ("b", 10), ("c", 1), ("d", 5)):
        await send(
            client,
            type="create_organization",
            actor=ADMIN,
            organization_id=org,
            name=org,
        )
        assigned = await send(
            client,
            type="assign",
            actor=ADMIN,
            organization_id=org,
            product="testops",
            quantity=quantity,
        )
        assert assigned.status == "accepted"

    first = await send(
        client,
        type="claim",
        actor={"kind": "user", "id": "dana"},
        organization_id="c",
        product="testops",
        user_id="dana",
    )
    second = await send(
        client,
        type="claim",
        actor={"kind": "user", "id": "eli"},
        organization_id="c",
        product="testops",
        user_id="eli",
    )

    assert first.status == "accepted"
    assert second.reason == "no_license_available"
    assert second.details == {
        "level": "c",
        "product": "testops",
        "pool": 1,
        "assigned_users": 1,
    }


async def test_the_second_example_of_the_spec(database_url, prefix, wire, start_worker):
    start_worker(database_url, prefix)
    acme = Commands("acme")
    await wire.execute_all(
        acme.open_account(),
        acme.set_purchased(200),
        acme.create("parent"),
        acme.assign("parent", 10),
        acme.create("first", under="parent"),
    )

    five_to_first = await wire.execute(acme.assign("first", 5))
    await wire.execute(acme.create("second", under="parent"))
    six_to_second = await wire.execute(acme.assign("second", 6))
    five_to_second = await wire.execute(acme.assign("second", 5))

    assert five_to_first.accepted
    assert await parent_figures(wire, five_to_first) == (10, 5, 0, 5, "parent")
    assert six_to_second.reason == "insufficient_pool"
    assert six_to_second.details["level"] == "parent"
    assert six_to_second.details["pool"] == 5
    assert five_to_second.accepted
    assert await parent_figures(wire, five_to_second) == (10, 0, 0, 0, "parent")


async def parent_figures(wire: Wire, outcome: Outcome) -> tuple[Any, ...]:
    """The parent organization's figures as the event of an assign lists them."""
    [event_id] = outcome.events
    [event] = await wire.wait_for(
        wire.streams.events, lambda e: e["event_id"] == event_id
    )
    return levels(event)["parent"]
