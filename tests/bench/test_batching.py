"""Batching changes no outcome: the same commands applied in batches and one at
a time give the same outcomes, the same events and the same final figures."""

import json
import random
from typing import Any

import pytest

from licensing.adapters.database import create_engine
from licensing.adapters.store import Store
from licensing.domain.audit import violations
from licensing.service_layer.messages import Entry, decode
from licensing.service_layer.processor import Processor
from licensing_contracts import Streams

STREAMS = Streams("bench-test")
ACCOUNTS = ("acme", "globex")
ORGANIZATIONS = ("a", "b", "a.x", "a.y", "b.x")
USERS = [f"u{n}" for n in range(12)]
PRODUCTS = ("testops", "studio")
ADMIN = {"kind": "user", "id": "ada"}
BILLING = {"kind": "service", "id": "billing"}


def document(n: int, kind: str, account: str, actor: dict[str, str], **fields: Any):
    return {
        "command_id": f"c{n}",
        "type": kind,
        "account_id": account,
        "actor": actor,
        **fields,
    }


def commands(seed: int = 7, count: int = 400) -> list[dict[str, Any] | bytes]:
    """Small pools and a busy mix, so that most refusals happen along the way;
    with repeats of earlier entries, a reused id and an unreadable entry."""
    rng = random.Random(seed)
    found: list[dict[str, Any] | bytes] = []
    n = 0
    for account in ACCOUNTS:
        found.append(
            document(n := n + 1, "open_account", account, BILLING, admins=["ada"])
        )
        for product in PRODUCTS:
            found.append(
                document(
                    n := n + 1,
                    "set_purchased",
                    account,
                    BILLING,
                    product=product,
                    quantity=8,
                )
            )
        for org in ORGANIZATIONS:
            parent = org.rpartition(".")[0] or None
            found.append(
                document(
                    n := n + 1,
                    "create_organization",
                    account,
                    ADMIN,
                    organization_id=org,
                    parent_id=parent,
                    name=org,
                )
            )
    for _ in range(count):
        account = rng.choice(ACCOUNTS)
        product = rng.choice(PRODUCTS)
        roll = rng.random()
        user = rng.choice(USERS)
        by = {"kind": "user", "id": user}
        if roll < 0.35:
            level = rng.choice([None, *ORGANIZATIONS, "nowhere"])
            found.append(
                document(
                    n := n + 1,
                    "claim",
                    account,
                    by,
                    organization_id=level,
                    product=product,
                    user_id=user,
                )
            )
        elif roll < 0.6:
            found.append(
                document(
                    n := n + 1, "release", account, by, product=product, user_id=user
                )
            )
        elif roll < 0.78:
            found.append(
                document(
                    n := n + 1,
                    "assign",
                    account,
                    ADMIN,
                    organization_id=rng.choice(ORGANIZATIONS),
                    product=product,
                    quantity=rng.randint(0, 5),
                )
            )
        elif roll < 0.83:
            found.append(
                document(
                    n := n + 1,
                    "revoke",
                    account,
                    ADMIN,
                    organization_id=rng.choice(ORGANIZATIONS),
                    product=product,
                )
            )
        elif roll < 0.87:
            found.append(
                document(
                    n := n + 1,
                    "move_organization",
                    account,
                    ADMIN,
                    organization_id=rng.choice(ORGANIZATIONS),
                    parent_id=rng.choice([None, *ORGANIZATIONS]),
                )
            )
        elif roll < 0.89:
            found.append(
                document(
                    n := n + 1,
                    "delete_organization",
                    account,
                    ADMIN,
                    organization_id=rng.choice(ORGANIZATIONS),
                )
            )
        elif roll < 0.91:
            found.append(
                document(
                    n := n + 1,
                    "grant_role",
                    account,
                    ADMIN,
                    user_id=user,
                    role="account_admin",
                )
            )
        elif roll < 0.93:
            found.append(
                document(
                    n := n + 1,
                    "revoke_role",
                    account,
                    ADMIN,
                    user_id=user,
                    role="account_admin",
                )
            )
        elif roll < 0.95:
            found.append(
                document(
                    n := n + 1,
                    "set_purchased",
                    account,
                    BILLING,
                    product=product,
                    quantity=rng.randint(0, 12),
                )
            )
        elif roll < 0.98 and isinstance(found[-1], dict):
            found.append(dict(found[rng.randrange(len(found) - 10, len(found))]))
        elif roll < 0.99:
            reused = dict(found[-1]) if isinstance(found[-1], dict) else None
            if reused is not None:
                reused["actor"] = BILLING
                found.append(reused)
        else:
            found.append(b"{not json")
    return found


def entries(items: list[dict[str, Any] | bytes]) -> list:
    return [
        decode(
            Entry(
                STREAMS.commands(0),
                f"{n + 1}-0",
                {
                    b"__data__": item
                    if isinstance(item, bytes)
                    else json.dumps(item).encode()
                },
            )
        )
        for n, item in enumerate(items)
    ]


async def apply_all(url: str, items: list, size: int) -> tuple[list, Store]:
    store = Store(create_engine(url))
    epoch = await store.take_partition(0, "batching-test")
    processor = Processor(store, STREAMS)
    decoded = entries(items)
    outcomes = []
    for start in range(0, len(decoded), size):
        applied = await processor.apply(0, epoch, decoded[start : start + size])
        outcomes += [outcome for _, outcome in applied.outcomes]
    return outcomes, store


def comparable(outcome: Any) -> tuple:
    return (
        outcome.command_id,
        outcome.account_id,
        outcome.type,
        outcome.status,
        outcome.reason,
        outcome.message,
        outcome.details,
        len(outcome.events),
    )


async def final_state(store: Store, account_id: str) -> dict[str, Any]:
    account = await store.account(account_id)
    assert account is not None
    assert violations(account) == []
    events = [json.loads(p) for p in await store.history(account_id, limit=10_000)]
    for event in events:
        del event["event_id"], event["occurred_at"]
    return {
        "admins": sorted(account.admins),
        "sequence": account.sequence,
        "organizations": {
            k: (o.parent_id, o.depth, o.children)
            for k, o in account.organizations.items()
            if o is not None
        },
        "allocations": {
            k: (a.dedicated, a.handed, a.drawn) for k, a in account.allocations.items()
        },
        "claims": dict(account.claims),
        "events": events,
    }


@pytest.mark.parametrize("size", [7, 100])
async def test_batches_and_single_commands_give_the_same_outcomes_and_figures(
    database_url, twin_database_url, size
):
    items = commands()

    batched, batched_store = await apply_all(database_url, items, size)
    single, single_store = await apply_all(twin_database_url, items, 1)

    try:
        assert [comparable(o) for o in batched] == [comparable(o) for o in single]
        reasons = {o.reason for o in single if o.reason}
        assert len(reasons) >= 6, reasons  # the mix does reach the refusals
        for account in ACCOUNTS:
            assert await final_state(batched_store, account) == await final_state(
                single_store, account
            )
    finally:
        await batched_store.close()
        await single_store.close()
