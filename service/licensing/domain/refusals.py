"""Why the rules refuse a command: one exception per reason of the contract."""

from typing import Any

from licensing_contracts import Reason


def level_name(level: str | None) -> str:
    return "the account" if level is None else f"organization {level}"


class Refused(Exception):
    """A command the rules do not allow; it becomes a rejected outcome."""

    reason: Reason

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidCommand(Refused):
    reason = Reason.INVALID_COMMAND


class UnknownAccount(Refused):
    reason = Reason.UNKNOWN_ACCOUNT

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {account_id} does not exist", account=account_id)


class UnknownOrganization(Refused):
    reason = Reason.UNKNOWN_ORGANIZATION

    def __init__(self, organization_id: str) -> None:
        super().__init__(
            f"organization {organization_id} does not exist",
            organization_id=organization_id,
        )


class AlreadyExists(Refused):
    reason = Reason.ALREADY_EXISTS


class NotAuthorized(Refused):
    reason = Reason.NOT_AUTHORIZED

    def __init__(self, actor: str, needs: str) -> None:
        super().__init__(f"{actor} may not do this: it needs {needs}", needs=needs)


class InsufficientPool(Refused):
    reason = Reason.INSUFFICIENT_POOL

    def __init__(
        self, level: str | None, product: str, pool: int, available: int, needed: int
    ) -> None:
        super().__init__(
            f"{level_name(level)} has {available} of {product} available "
            f"(pool {pool}); {needed} more are needed",
            level=level,
            product=product,
            pool=pool,
            available=available,
            needed=needed,
        )


class BelowUsage(Refused):
    reason = Reason.BELOW_USAGE

    def __init__(
        self, level: str | None, product: str, quantity: int, in_use: int
    ) -> None:
        super().__init__(
            f"{level_name(level)} already uses {in_use} of {product} "
            f"(handed to sub-levels and claimed); {quantity} is too few",
            level=level,
            product=product,
            quantity=quantity,
            in_use=in_use,
        )


class NoLicenseAvailable(Refused):
    reason = Reason.NO_LICENSE_AVAILABLE

    def __init__(
        self, level: str | None, product: str, pool: int, assigned_users: int
    ) -> None:
        super().__init__(
            f"{level_name(level)} has no license of {product} available "
            f"(pool {pool}, assigned {assigned_users})",
            level=level,
            product=product,
            pool=pool,
            assigned_users=assigned_users,
        )


class AlreadyClaimed(Refused):
    reason = Reason.ALREADY_CLAIMED

    def __init__(self, user_id: str, product: str, level: str | None) -> None:
        super().__init__(
            f"user {user_id} already holds a {product} license at {level_name(level)}",
            user_id=user_id,
            product=product,
            level=level,
        )


class NotClaimed(Refused):
    reason = Reason.NOT_CLAIMED

    def __init__(self, user_id: str, product: str) -> None:
        super().__init__(
            f"user {user_id} holds no {product} license in this account",
            user_id=user_id,
            product=product,
        )


class NotEmpty(Refused):
    reason = Reason.NOT_EMPTY

    def __init__(
        self, organization_id: str, sub_organizations: int, claims: int
    ) -> None:
        super().__init__(
            f"organization {organization_id} still has {sub_organizations} "
            f"sub-organizations and {claims} claims",
            organization_id=organization_id,
            sub_organizations=sub_organizations,
            claims=claims,
        )


class Cycle(Refused):
    reason = Reason.CYCLE

    def __init__(self, organization_id: str, parent_id: str) -> None:
        super().__init__(
            f"organization {organization_id} cannot move under {parent_id}, "
            "which is itself or lies beneath it",
            organization_id=organization_id,
            parent_id=parent_id,
        )


class TooDeep(Refused):
    reason = Reason.TOO_DEEP

    def __init__(self, organization_id: str, depth: int, max_depth: int) -> None:
        super().__init__(
            f"organization {organization_id} would reach {depth} levels below "
            f"the account; at most {max_depth} are allowed",
            organization_id=organization_id,
            depth=depth,
            max_depth=max_depth,
        )


class LastAdmin(Refused):
    reason = Reason.LAST_ADMIN

    def __init__(self, user_id: str) -> None:
        super().__init__(
            f"user {user_id} is the last account admin; grant another one first",
            user_id=user_id,
        )
