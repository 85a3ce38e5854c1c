"""What the service answers to every command."""

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, TypeAdapter

from .identifiers import Document


class Reason(StrEnum):
    """Why a command was rejected."""

    INVALID_COMMAND = "invalid_command"
    UNKNOWN_ACCOUNT = "unknown_account"
    UNKNOWN_ORGANIZATION = "unknown_organization"
    ALREADY_EXISTS = "already_exists"
    NOT_AUTHORIZED = "not_authorized"
    INSUFFICIENT_POOL = "insufficient_pool"
    BELOW_USAGE = "below_usage"
    NO_LICENSE_AVAILABLE = "no_license_available"
    ALREADY_CLAIMED = "already_claimed"
    NOT_CLAIMED = "not_claimed"
    NOT_EMPTY = "not_empty"
    CYCLE = "cycle"
    TOO_DEEP = "too_deep"
    LAST_ADMIN = "last_admin"
    COMMAND_ID_REUSED = "command_id_reused"
    PROCESSING_FAILED = "processing_failed"


class Outcome(Document):
    """The result of one command: accepted with its events, or rejected with why."""

    command_id: str | None
    account_id: str | None
    type: str | None = Field(description="The command's type, null if unreadable")
    status: Literal["accepted", "rejected"]
    reason: Reason | None = None
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    events: list[str] = Field(default_factory=list, description="Ids of its events")

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


outcome_adapter: TypeAdapter[Outcome] = TypeAdapter(Outcome)
