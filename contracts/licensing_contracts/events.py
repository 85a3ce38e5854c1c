"""What the service publishes when something changed."""

from typing import Any, Literal

from pydantic import Field, TypeAdapter

from .identifiers import Actor, Document

EventType = Literal[
    "license.changed", "organization.changed", "role.changed", "account.opened"
]


class LevelFigures(Document):
    """The four figures of one level for one product, and where it draws from."""

    organization_id: str | None = Field(description="null is the account level")
    dedicated: int | None = Field(description="null for a sharing level")
    pool: int | None = Field(description="null for a sharing level")
    assigned_users: int
    available: int
    funding_level: str | None = Field(description="null is the account level")


class Event(Document):
    """One change, numbered per account without gaps."""

    event_id: str
    type: EventType
    account_id: str
    sequence: int = Field(ge=1)
    occurred_at: str = Field(description="UTC, ISO 8601 with milliseconds")
    command_id: str
    command_type: str
    actor: Actor
    product: str | None = None
    change: dict[str, Any] = Field(description="kind, and what it names")
    levels: list[LevelFigures] = Field(default_factory=list)


class DeadLetter(Document):
    """An entry the service could not read or could not process."""

    stream: str
    entry_id: str
    reason: Literal["invalid_command", "processing_failed"]
    error: str
    command_id: str | None = None
    account_id: str | None = None
    deliveries: int | None = None
    fields: dict[str, str] = Field(
        description="The entry's fields; bytes that are not UTF-8 as base64:…"
    )
    occurred_at: str


event_adapter: TypeAdapter[Event] = TypeAdapter(Event)
dead_letter_adapter: TypeAdapter[DeadLetter] = TypeAdapter(DeadLetter)
