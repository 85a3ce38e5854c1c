"""Command documents as a sender writes them: plain JSON values, one account each.

The store suite feeds them to the processor as stream entries; the end-to-end
suites send them over Redis. Every document gets a fresh ``command_id``.
"""

import uuid
from typing import Any

PRODUCT = "testops"
BILLING = {"kind": "service", "id": "billing"}
ADMIN = "ada"

Document = dict[str, Any]


def user(user_id: str) -> dict[str, str]:
    return {"kind": "user", "id": user_id}


class Commands:
    """The commands of one account, spelled the way its users speak."""

    def __init__(self, account_id: str = "acme", product: str = PRODUCT) -> None:
        self.account_id = account_id
        self.product = product

    def command(self, type_: str, by: dict[str, str], **fields: Any) -> Document:
        return {
            "command_id": str(uuid.uuid4()),
            "type": type_,
            "account_id": self.account_id,
            "actor": by,
            **fields,
        }

    def open_account(self, *admins: str, by: dict[str, str] = BILLING) -> Document:
        return self.command("open_account", by, admins=list(admins or [ADMIN]))

    def set_purchased(self, quantity: int, *, by: dict[str, str] = BILLING) -> Document:
        return self.command(
            "set_purchased", by, product=self.product, quantity=quantity
        )

    def create(
        self, organization_id: str, under: str | None = None, *, by: str = ADMIN
    ) -> Document:
        return self.command(
            "create_organization",
            user(by),
            organization_id=organization_id,
            parent_id=under,
            name=f"{organization_id} team",
        )

    def move(
        self, organization_id: str, under: str | None, *, by: str = ADMIN
    ) -> Document:
        return self.command(
            "move_organization",
            user(by),
            organization_id=organization_id,
            parent_id=under,
        )

    def delete(self, organization_id: str, *, by: str = ADMIN) -> Document:
        return self.command(
            "delete_organization", user(by), organization_id=organization_id
        )

    def assign(
        self, organization_id: str, quantity: int, *, by: str = ADMIN
    ) -> Document:
        return self.command(
            "assign",
            user(by),
            organization_id=organization_id,
            product=self.product,
            quantity=quantity,
        )

    def revoke(self, organization_id: str, *, by: str = ADMIN) -> Document:
        return self.command(
            "revoke", user(by), organization_id=organization_id, product=self.product
        )

    def claim(
        self, user_id: str, at: str | None = None, *, by: str | None = None
    ) -> Document:
        """A claim, sent by the user themself unless someone else is named."""
        return self.command(
            "claim",
            user(by or user_id),
            organization_id=at,
            product=self.product,
            user_id=user_id,
        )

    def release(self, user_id: str, *, by: str | None = None) -> Document:
        return self.command(
            "release", user(by or user_id), product=self.product, user_id=user_id
        )

    def grant_admin(self, user_id: str, *, by: str = ADMIN) -> Document:
        return self.command(
            "grant_role", user(by), user_id=user_id, role="account_admin"
        )


def again(document: Document, **changes: Any) -> Document:
    """The same command (same command_id), with some fields changed."""
    return {**document, **changes}
