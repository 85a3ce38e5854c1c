"""Applying command entries: decode, deduplicate, run the rules, store, outbox.

One call of ``Processor.apply`` is one transaction: every command of the batch
takes effect with its events, outcomes and outbox rows, or none does.
"""

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json

from licensing_contracts import (
    Command,
    DeadLetter,
    Outcome,
    Reason,
    Streams,
)

from ..adapters.store import OutboxRow, Store
from ..domain import Account, DomainEvent, Refused, handle
from .messages import Decoded, printable_fields


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event_id() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` gives, for
    less than half its cost: the same random bytes, version and variant bits."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
"""``json.dumps(..., sort_keys=True, separators=(",", ":"))`` without building an
encoder at every call."""


def body_hash(command: Command) -> str:
    """What makes two deliveries "the same command": everything but where to reply.

    The SHA-256 of ``command.model_dump(mode="json", exclude={"reply_to"})`` as
    sorted, compact JSON. Stored hashes depend on it: it must never change.
    Command fields are strings, integers, None, lists of strings and the actor,
    so the validated values are already what ``model_dump`` would give; reading
    them directly is several times cheaper (tests compare the two on every
    command type and field).
    """
    body = dict(command.__dict__)
    del body["reply_to"]
    body["actor"] = dict(command.actor.__dict__)
    return hashlib.sha256(_canonical(body).encode()).hexdigest()


@dataclass
class Applied:
    """What one batch produced, for logs and metrics."""

    outcomes: list[tuple[Decoded, Outcome]] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


class Processor:
    """Turns decoded entries into committed changes and outbox rows."""

    def __init__(self, store: Store, streams: Streams, max_depth: int = 8) -> None:
        self.store = store
        self.streams = streams
        self.max_depth = max_depth

    async def apply(
        self, partition: int, epoch: int, entries: list[Decoded]
    ) -> Applied:
        applied = Applied()
        async with self.store.batch(partition, epoch) as batch:
            readable = [d.command for d in entries if d.command is not None]
            seen, accounts = await batch.read(readable)
            run = _Run(self, accounts, seen, applied)
            for decoded in entries:
                run.one(decoded)
            await batch.save(accounts.values())
            applied.outbox = await batch.record(run.processed, run.events, run.outbox)
        return applied

    async def fail(
        self, partition: int, epoch: int, decoded: Decoded, error: str
    ) -> Applied:
        """Give up on an entry that kept failing: a processing_failed outcome and a
        dead letter, recorded so that a redelivery gets the same answer."""
        applied = Applied()
        async with self.store.batch(partition, epoch) as batch:
            run = _Run(self, {}, {}, applied)
            outcome = _rejected(decoded, Reason.PROCESSING_FAILED, error, {})
            run.answer(decoded, outcome)
            run.dead_letter(decoded, "processing_failed", error)
            if decoded.command is not None:
                run.remember(decoded.command, outcome)
            applied.outbox = await batch.record(run.processed, run.events, run.outbox)
        return applied


class _Run:
    """The commands of one batch, applied in stream order."""

    def __init__(
        self,
        processor: Processor,
        accounts: dict[str, Account],
        seen: dict[tuple[str, str], tuple[str, str]],
        applied: Applied,
    ) -> None:
        self.streams = processor.streams
        self.events_stream = self.streams.events
        self.outcomes_stream = self.streams.outcomes
        self.max_depth = processor.max_depth
        self.accounts = accounts
        self.seen = dict(seen)
        self.applied = applied
        self.processed: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.outbox: list[OutboxRow] = []
        # The batch commits as one: its events happen at the same moment.
        self.occurred_at = now_iso()

    def one(self, decoded: Decoded) -> None:
        command = decoded.command
        if command is None:
            self.invalid(decoded)
            return
        key = (command.account_id, command.command_id)
        digest = body_hash(command)
        if key in self.seen:
            known_hash, known_outcome = self.seen[key]
            if known_hash == digest:
                self.answer(decoded, Outcome.model_validate_json(known_outcome))
            else:
                message = (
                    f"command id {command.command_id} was already used for "
                    "another command in this account"
                )
                reused = _rejected(decoded, Reason.COMMAND_ID_REUSED, message, {})
                self.answer(decoded, reused)
            return
        self.answer(decoded, self.execute(command), digest)

    def execute(self, command: Command) -> Outcome:
        account = self.accounts.get(command.account_id)
        try:
            account, changes = handle(account, command, self.max_depth)
        except Refused as refusal:
            return Outcome(
                command_id=command.command_id,
                account_id=command.account_id,
                type=command.type,
                status="rejected",
                reason=refusal.reason,
                message=refusal.message,
                details=refusal.details,
            )
        assert account is not None
        self.accounts[command.account_id] = account
        event_ids = [self.publish_event(account, command, change) for change in changes]
        return Outcome(
            command_id=command.command_id,
            account_id=command.account_id,
            type=command.type,
            status="accepted",
            message="accepted" if event_ids else "accepted; nothing changed",
            events=event_ids,
        )

    def publish_event(
        self, account: Account, command: Command, change: DomainEvent
    ) -> str:
        account.sequence += 1
        event_id = new_event_id()
        # An Event document, field for field in its order, from values the
        # rules and the validated command made: serialized without validating
        # them again, which cost as much as the rest of publishing (the unit
        # tests compare it with Event(...).model_dump_json()).
        payload = to_json(
            {
                "event_id": event_id,
                "type": change.type,
                "account_id": account.id,
                "sequence": account.sequence,
                "occurred_at": self.occurred_at,
                "command_id": command.command_id,
                "command_type": command.type,
                "actor": command.actor,
                "product": change.product,
                "change": change.change,
                "levels": change.levels,
            }
        ).decode()
        self.events.append(
            {
                "account_id": account.id,
                "sequence": account.sequence,
                "event_id": event_id,
                "type": change.type,
                "product": change.product,
                "payload": payload,
            }
        )
        self.outbox.append(OutboxRow("stream", self.events_stream, payload))
        return event_id

    def answer(
        self, decoded: Decoded, outcome: Outcome, digest: str | None = None
    ) -> None:
        """Send the outcome where it is expected; remember it if it is new."""
        payload = outcome.model_dump_json()
        if digest is not None and decoded.command is not None:
            self.remember(decoded.command, outcome, digest, payload)
        self.outbox.append(OutboxRow("stream", self.outcomes_stream, payload))
        if decoded.reply_to:
            self.outbox.append(OutboxRow("reply_stream", decoded.reply_to, payload))
        if decoded.reply_channel:
            self.outbox.append(
                OutboxRow(
                    "reply", decoded.reply_channel, payload, decoded.correlation_id
                )
            )
        self.applied.outcomes.append((decoded, outcome))

    def remember(
        self,
        command: Command,
        outcome: Outcome,
        digest: str | None = None,
        payload: str | None = None,
    ) -> None:
        digest = digest or body_hash(command)
        payload = payload or outcome.model_dump_json()
        self.seen[(command.account_id, command.command_id)] = (digest, payload)
        self.processed.append(
            {
                "account_id": command.account_id,
                "command_id": command.command_id,
                "body_hash": digest,
                "outcome": payload,
            }
        )

    def invalid(self, decoded: Decoded) -> None:
        error = decoded.error or "unreadable entry"
        if decoded.command_id and decoded.account_id:
            self.answer(decoded, _rejected(decoded, Reason.INVALID_COMMAND, error, {}))
        self.dead_letter(decoded, "invalid_command", error)

    def dead_letter(self, decoded: Decoded, reason: str, error: str) -> None:
        letter = DeadLetter(
            stream=decoded.entry.stream,
            entry_id=decoded.entry.entry_id,
            reason=reason,
            error=error,
            command_id=decoded.command_id,
            account_id=decoded.account_id,
            deliveries=decoded.entry.deliveries,
            fields=printable_fields(decoded.entry.fields),
            occurred_at=now_iso(),
        )
        self.outbox.append(
            OutboxRow("stream", self.streams.dead_letters, letter.model_dump_json())
        )
        self.applied.dead_letters.append(letter)


def _rejected(
    decoded: Decoded, reason: Reason, message: str, details: dict[str, Any]
) -> Outcome:
    command = decoded.command
    return Outcome(
        command_id=command.command_id if command else decoded.command_id,
        account_id=command.account_id if command else decoded.account_id,
        type=command.type if command else _type_of(decoded),
        status="rejected",
        reason=reason,
        message=message,
        details=details,
    )


def _type_of(decoded: Decoded) -> str | None:
    value = decoded.document.get("type")
    return value if isinstance(value, str) and len(value) <= 64 else None
