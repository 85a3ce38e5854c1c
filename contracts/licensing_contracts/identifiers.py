"""Value types shared by every document of the contract."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
MAX_QUANTITY = 10_000_000
MAX_ENTRY_BYTES = 64 * 1024

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN),
    Field(description="1 to 128 letters, digits and . _ : @ -"),
]
CommandId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128),
    Field(description="Chosen by the sender, unique per account"),
]
Quantity = Annotated[
    int,
    Field(ge=0, le=MAX_QUANTITY, strict=True, description="0 to 10,000,000"),
]
StreamName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=r"^\S+$"),
    Field(description="A Redis stream name"),
]


class Document(BaseModel):
    """Base of every wire document: immutable, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Actor(Document):
    """Who asks for a command: a user, or a trusted service."""

    kind: Literal["user", "service"]
    id: Identifier
