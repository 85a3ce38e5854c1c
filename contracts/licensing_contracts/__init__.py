"""The wire contract of the licensing service, for its senders and subscribers."""

from .client import AsyncLicensingClient, LicensingClient, OutcomeTimeout, encode
from .commands import (
    COMMAND_TYPES,
    Assign,
    BaseCommand,
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
    command_adapter,
)
from .events import DeadLetter, Event, LevelFigures, event_adapter
from .identifiers import MAX_ENTRY_BYTES, MAX_QUANTITY, Actor
from .outcomes import Outcome, Reason
from .streams import DATA_FIELD, Streams, partition_of

__all__ = [
    "COMMAND_TYPES",
    "DATA_FIELD",
    "MAX_ENTRY_BYTES",
    "MAX_QUANTITY",
    "Actor",
    "Assign",
    "AsyncLicensingClient",
    "BaseCommand",
    "Claim",
    "Command",
    "CreateOrganization",
    "DeadLetter",
    "DeleteOrganization",
    "Event",
    "GrantRole",
    "LevelFigures",
    "LicensingClient",
    "MoveOrganization",
    "OpenAccount",
    "Outcome",
    "OutcomeTimeout",
    "Reason",
    "Release",
    "Revoke",
    "RevokeRole",
    "SetPurchased",
    "Streams",
    "command_adapter",
    "encode",
    "event_adapter",
    "partition_of",
]
