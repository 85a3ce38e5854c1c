"""Who may do what, and which rule each command runs."""

from licensing_contracts import (
    Assign,
    Claim,
    Command,
    CreateOrganization,
    DeleteOrganization,
    GrantRole,
    MoveOrganization,
    OpenAccount,
    Release,
    Revoke,
    RevokeRole,
    SetPurchased,
)

from . import refusals
from .model import DEFAULT_MAX_DEPTH, Account, DomainEvent


def _is_service(command: Command) -> bool:
    return command.actor.kind == "service"


def _is_admin(account: Account, command: Command) -> bool:
    return _is_service(command) or command.actor.id in account.admins


def _actor(command: Command) -> str:
    return f"{command.actor.kind} {command.actor.id}"


def _require_admin(account: Account, command: Command) -> None:
    if not _is_admin(account, command):
        raise refusals.NotAuthorized(_actor(command), "an account admin or a service")


def open_account(
    account: Account | None, command: OpenAccount, max_depth: int
) -> tuple[Account, list[DomainEvent]]:
    if not _is_service(command):
        raise refusals.NotAuthorized(_actor(command), "a trusted service")
    if account is not None:
        if account.admins == set(command.admins):
            return account, []
        raise refusals.AlreadyExists(
            f"account {command.account_id} already exists with other admins",
            account=command.account_id,
        )
    account = Account(command.account_id, max_depth=max_depth)
    return account, account.open(list(dict.fromkeys(command.admins)))


def _run(account: Account, command: Command) -> list[DomainEvent]:
    match command:
        case SetPurchased():
            if not _is_service(command):
                raise refusals.NotAuthorized(_actor(command), "a trusted service")
            return account.set_purchased(command.product, command.quantity)
        case Claim():
            _require_self_or_admin(account, command, command.user_id)
            return account.claim(
                command.organization_id, command.product, command.user_id
            )
        case Release():
            _require_self_or_admin(account, command, command.user_id)
            return account.release(command.product, command.user_id)
    _require_admin(account, command)
    match command:
        case CreateOrganization():
            return account.create_organization(
                command.organization_id, command.parent_id, command.name
            )
        case MoveOrganization():
            return account.move_organization(command.organization_id, command.parent_id)
        case DeleteOrganization():
            return account.delete_organization(command.organization_id)
        case Assign():
            return account.assign(
                command.organization_id, command.product, command.quantity
            )
        case Revoke():
            return account.revoke(command.organization_id, command.product)
        case GrantRole():
            return account.grant_admin(command.user_id)
        case RevokeRole():
            return account.revoke_admin(command.user_id)
    raise AssertionError(f"no rule for {command.type}")  # pragma: no cover


def _require_self_or_admin(account: Account, command: Command, user_id: str) -> None:
    """Users claim and release for themselves; admins and services for anyone."""
    if command.actor.kind == "user" and command.actor.id == user_id:
        return
    _require_admin(account, command)


def handle(
    account: Account | None, command: Command, max_depth: int = DEFAULT_MAX_DEPTH
) -> tuple[Account | None, list[DomainEvent]]:
    """Apply one command to its account; raises ``Refused`` when the rules say no.

    Returns the account (a new one for ``open_account``) and the events.
    """
    if isinstance(command, OpenAccount):
        return open_account(account, command, max_depth)
    if account is None:
        raise refusals.UnknownAccount(command.account_id)
    return account, _run(account, command)
