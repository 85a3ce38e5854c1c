"""Commands other services send to the licensing service."""

from typing import Annotated, Literal, TypeAlias

from pydantic import Field, StringConstraints, TypeAdapter

from .identifiers import (
    Actor,
    CommandId,
    Document,
    Identifier,
    Quantity,
    StreamName,
)

OrganizationName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)
]


class BaseCommand(Document):
    """Fields every command carries."""

    command_id: CommandId
    account_id: Identifier
    actor: Actor
    reply_to: StreamName | None = Field(
        default=None, description="A stream to which the outcome is also added"
    )


class OpenAccount(BaseCommand):
    """Create an account with its first account admins."""

    type: Literal["open_account"] = "open_account"
    admins: list[Identifier] = Field(min_length=1)


class SetPurchased(BaseCommand):
    """Set how many licenses of a product the account owns."""

    type: Literal["set_purchased"] = "set_purchased"
    product: Identifier
    quantity: Quantity


class CreateOrganization(BaseCommand):
    """Create an organization under the account (parent_id null) or an organization."""

    type: Literal["create_organization"] = "create_organization"
    organization_id: Identifier
    parent_id: Identifier | None = None
    name: OrganizationName


class MoveOrganization(BaseCommand):
    """Move an organization and its subtree under another parent."""

    type: Literal["move_organization"] = "move_organization"
    organization_id: Identifier
    parent_id: Identifier | None = None


class DeleteOrganization(BaseCommand):
    """Delete an empty organization; its dedicated licenses go back."""

    type: Literal["delete_organization"] = "delete_organization"
    organization_id: Identifier


class Assign(BaseCommand):
    """Set an organization's dedicated licenses of a product (absolute)."""

    type: Literal["assign"] = "assign"
    organization_id: Identifier
    product: Identifier
    quantity: Quantity


class Revoke(BaseCommand):
    """Remove an organization's dedicated licenses: it shares its parent's pool."""

    type: Literal["revoke"] = "revoke"
    organization_id: Identifier
    product: Identifier


class Claim(BaseCommand):
    """Give a user a license at a level (organization_id null: the account)."""

    type: Literal["claim"] = "claim"
    organization_id: Identifier | None = None
    product: Identifier
    user_id: Identifier


class Release(BaseCommand):
    """Take a user's license back, wherever it is held."""

    type: Literal["release"] = "release"
    product: Identifier
    user_id: Identifier


class GrantRole(BaseCommand):
    """Make a user an account admin."""

    type: Literal["grant_role"] = "grant_role"
    user_id: Identifier
    role: Literal["account_admin"]


class RevokeRole(BaseCommand):
    """Take the account admin role from a user."""

    type: Literal["revoke_role"] = "revoke_role"
    user_id: Identifier
    role: Literal["account_admin"]


Command: TypeAlias = Annotated[
    OpenAccount
    | SetPurchased
    | CreateOrganization
    | MoveOrganization
    | DeleteOrganization
    | Assign
    | Revoke
    | Claim
    | Release
    | GrantRole
    | RevokeRole,
    Field(discriminator="type"),
]

COMMAND_TYPES: tuple[str, ...] = (
    "open_account",
    "set_purchased",
    "create_organization",
    "move_organization",
    "delete_organization",
    "assign",
    "revoke",
    "claim",
    "release",
    "grant_role",
    "revoke_role",
)

command_adapter: TypeAdapter[Command] = TypeAdapter(Command)
