"""Commands and accounts for the unit tests, written the way a sender would."""

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

from licensing.domain import Account, DomainEvent, Refused, handle
from licensing.domain.audit import violations
from licensing_contracts import Actor, Command, LevelFigures, command_adapter

ACCOUNT = "acme"
PRODUCT = "testops"
BILLING = Actor(kind="service", id="billing")
ADMIN = "ada"

_command_ids = itertools.count(1)


def user(user_id: str) -> Actor:
    return Actor(kind="user", id=user_id)


def command(type_: str, *, by: Actor = BILLING, **fields: Any) -> Command:
    """A command as it arrives on the wire, from plain JSON values."""
    document = {
        "command_id": f"cmd-{next(_command_ids)}",
        "type": type_,
        "account_id": ACCOUNT,
        "actor": by.model_dump(),
        **fields,
    }
    return command_adapter.validate_python(document)


def open_account(*admins: str, by: Actor = BILLING) -> Command:
    return command("open_account", admins=list(admins or [ADMIN]), by=by)


def set_purchased(
    quantity: int, product: str = PRODUCT, *, by: Actor = BILLING
) -> Command:
    return command("set_purchased", product=product, quantity=quantity, by=by)


def create(
    organization_id: str, under: str | None = None, *, by: Actor = BILLING
) -> Command:
    return command(
        "create_organization",
        organization_id=organization_id,
        parent_id=under,
        name=f"{organization_id.title()} team",
        by=by,
    )


def move(organization_id: str, under: str | None, *, by: Actor = BILLING) -> Command:
    return command(
        "move_organization", organization_id=organization_id, parent_id=under, by=by
    )


def delete(organization_id: str, *, by: Actor = BILLING) -> Command:
    return command("delete_organization", organization_id=organization_id, by=by)


def assign(
    organization_id: str,
    quantity: int,
    product: str = PRODUCT,
    *,
    by: Actor = BILLING,
) -> Command:
    return command(
        "assign",
        organization_id=organization_id,
        product=product,
        quantity=quantity,
        by=by,
    )


def revoke(
    organization_id: str, product: str = PRODUCT, *, by: Actor = BILLING
) -> Command:
    return command("revoke", organization_id=organization_id, product=product, by=by)


def claim(
    user_id: str,
    at: str | None = None,
    product: str = PRODUCT,
    *,
    by: Actor | None = None,
) -> Command:
    """A claim, sent by the user themself unless someone else is named."""
    return command(
        "claim",
        organization_id=at,
        product=product,
        user_id=user_id,
        by=by or user(user_id),
    )


def release(
    user_id: str, product: str = PRODUCT, *, by: Actor | None = None
) -> Command:
    return command("release", product=product, user_id=user_id, by=by or user(user_id))


def grant_admin(user_id: str, *, by: Actor = BILLING) -> Command:
    return command("grant_role", user_id=user_id, role="account_admin", by=by)


def revoke_admin(user_id: str, *, by: Actor = BILLING) -> Command:
    return command("revoke_role", user_id=user_id, role="account_admin", by=by)


def run(account: Account | None, *commands: Command) -> list[DomainEvent]:
    """Apply the commands in order; the events of the last one.

    Every command must leave counters that a recomputation agrees with."""
    events: list[DomainEvent] = []
    for each in commands:
        _, events = handle(account, each)
        if account is not None:
            assert violations(account) == [], f"after {each.type}"
    return events


def refusal(account: Account | None, refused: Command) -> Refused:
    """The refusal of a command that the rules must not allow."""
    with pytest.raises(Refused) as raised:
        handle(account, refused)
    if account is not None:
        assert violations(account) == [], f"after the refused {refused.type}"
    return raised.value


def figures(
    account: Account, level: str | None, product: str = PRODUCT
) -> tuple[int | None, int | None, int, int, str | None]:
    """(dedicated, pool, assigned_users, available, funding_level) of a level."""
    found = account.figures(level, product)
    return (
        found.dedicated,
        found.pool,
        found.assigned_users,
        found.available,
        found.funding_level,
    )


def snapshot(account: Account, products: Iterable[str] = (PRODUCT,)) -> dict[str, Any]:
    """Everything a command may change, in plain values."""
    organizations = {
        org.id: (org.parent_id, org.depth, org.children)
        for org in account.organizations.values()
        if org is not None
    }
    levels: list[str | None] = [None, *organizations]
    return {
        "admins": set(account.admins),
        "organizations": organizations,
        "claims": dict(account.claims),
        "figures": {
            (level, p): account.figures(level, p) for level in levels for p in products
        },
    }


def listed(event: DomainEvent) -> dict[str | None, LevelFigures]:
    """The figures an event lists, by level."""
    return {level.organization_id: level for level in event.levels}


class AccountBuilder:
    """An account set up through the same commands a sender would use."""

    def __init__(self, *admins: str, max_depth: int = 8) -> None:
        self.account, _ = handle(None, open_account(*admins), max_depth=max_depth)

    def purchased(self, quantity: int, product: str = PRODUCT) -> "AccountBuilder":
        return self._run(set_purchased(quantity, product))

    def organization(
        self, organization_id: str, under: str | None = None
    ) -> "AccountBuilder":
        return self._run(create(organization_id, under))

    def dedicated(
        self, organization_id: str, quantity: int, product: str = PRODUCT
    ) -> "AccountBuilder":
        return self._run(assign(organization_id, quantity, product))

    def claimed(
        self, *user_ids: str, at: str | None = None, product: str = PRODUCT
    ) -> "AccountBuilder":
        for user_id in user_ids:
            self._run(claim(user_id, at, product))
        return self

    def admin(self, user_id: str) -> "AccountBuilder":
        return self._run(grant_admin(user_id))

    def build(self) -> Account:
        assert violations(self.account) == []
        return self.account

    def _run(self, each: Command) -> "AccountBuilder":
        handle(self.account, each)
        return self
