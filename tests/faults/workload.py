"""Command loads for the fault tests: small pools, many claims and releases.

Every load is a list of commands in the order they are added to the streams.
One producer adds them in that order, so within an account (one stream) the
list order is the stream order that the service must respect.
"""

import asyncio
import itertools
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from licensing_contracts import Command, Streams, command_adapter, encode, partition_of

PRODUCT = "testops"
BILLING = {"kind": "service", "id": "billing"}
ADMIN = {"kind": "user", "id": "ada"}
# The tree of every account: (organization, parent, dedicated or None).
# The account buys 12: eng 6 (qa 2 of them, lab shares eng's), ops 3, and
# "floor" shares the account's own pool of 3. Twelve users per account keep
# every pool close to full, so claims are refused as often as accepted.
TREE = (
    ("eng", None, 6),
    ("ops", None, 3),
    ("qa", "eng", 2),
    ("lab", "eng", None),
    ("floor", None, None),
)
PURCHASED = 12
LEVELS: tuple[str | None, ...] = (None, "eng", "ops", "qa", "lab", "floor")


def command(**body: Any) -> Command:
    body.setdefault("command_id", str(uuid.uuid4()))
    return command_adapter.validate_python(body)


def accounts_on(partitions: int, per_partition: int, tag: str = "acct") -> list[str]:
    """Account ids that fill every partition with the same number of accounts."""
    chosen: dict[int, list[str]] = {n: [] for n in range(partitions)}
    for i in itertools.count():
        name = f"{tag}-{i}"
        found = chosen[partition_of(name, partitions)]
        if len(found) < per_partition:
            found.append(name)
        if all(len(v) == per_partition for v in chosen.values()):
            return sorted(name for names in chosen.values() for name in names)
    raise AssertionError("unreachable")


def open_account(account_id: str) -> list[Command]:
    """Open an account and build its tree of small pools."""
    commands = [
        command(
            type="open_account", account_id=account_id, actor=BILLING, admins=["ada"]
        ),
        command(
            type="set_purchased",
            account_id=account_id,
            actor=BILLING,
            product=PRODUCT,
            quantity=PURCHASED,
        ),
    ]
    for org, parent, dedicated in TREE:
        commands.append(
            command(
                type="create_organization",
                account_id=account_id,
                actor=ADMIN,
                organization_id=org,
                parent_id=parent,
                name=org.title(),
            )
        )
        if dedicated is not None:
            commands.append(assign(account_id, org, dedicated))
    return commands


def assign(account_id: str, org: str, quantity: int) -> Command:
    return command(
        type="assign",
        account_id=account_id,
        actor=ADMIN,
        organization_id=org,
        product=PRODUCT,
        quantity=quantity,
    )


def claim(account_id: str, user: str, level: str | None) -> Command:
    return command(
        type="claim",
        account_id=account_id,
        actor={"kind": "user", "id": user},
        organization_id=level,
        product=PRODUCT,
        user_id=user,
    )


def release(account_id: str, user: str) -> Command:
    return command(
        type="release",
        account_id=account_id,
        actor={"kind": "user", "id": user},
        product=PRODUCT,
        user_id=user,
    )


def mixed(
    accounts: Sequence[str],
    count: int,
    seed: int,
    users: int = 12,
    opening: bool = True,
) -> list[Command]:
    """Open the accounts (unless ``opening`` is off), then ``count`` commands:
    mostly claims and releases of a few users, now and then an admin resizing a
    pool, and a few commands sent twice (a retrying sender), all interleaved
    across the accounts."""
    rng = random.Random(seed)
    commands = [c for account in accounts for c in open_account(account)]
    if not opening:
        commands = []
    sent: list[Command] = []
    for _ in range(count):
        account = rng.choice(accounts)
        user = f"user-{rng.randrange(users)}"
        roll = rng.random()
        if roll < 0.5:
            next_command = claim(account, user, rng.choice(LEVELS))
        elif roll < 0.92:
            next_command = release(account, user)
        elif roll < 0.97:
            org = rng.choice(["eng", "ops", "qa"])
            next_command = assign(account, org, rng.randrange(0, 7))
        elif sent:
            next_command = rng.choice(sent[-200:])
        else:
            continue
        sent.append(next_command)
    return commands + sent


def pairs(accounts: Sequence[str], users: int) -> list[Command]:
    """For each user in turn, a claim immediately followed by its release."""
    commands = [c for account in accounts for c in open_account(account)]
    for i in range(users):
        for account in accounts:
            user = f"user-{i}"
            level = LEVELS[i % len(LEVELS)]
            commands += [claim(account, user, level), release(account, user)]
    return commands


@dataclass
class Producer:
    """Adds commands to their partitions' streams in order, a chunk at a time."""

    redis: "Redis[bytes]"
    streams: Streams
    sent: list[Command] = field(default_factory=list)

    async def send(
        self,
        commands: Iterable[Command],
        chunk: int = 50,
        pause: float = 0.0,
        until: asyncio.Event | None = None,
    ) -> None:
        """Send in chunks, pausing between them (only until ``until`` is set)."""
        batch: list[Command] = []
        for item in commands:
            batch.append(item)
            if len(batch) == chunk:
                await self._add(batch)
                batch = []
                if until is None or not until.is_set():
                    await asyncio.sleep(pause)
        if batch:
            await self._add(batch)

    async def _add(self, commands: list[Command]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in commands:
                pipe.xadd(self.streams.commands_of(item.account_id), encode(item))
            await pipe.execute()
        self.sent.extend(commands)
