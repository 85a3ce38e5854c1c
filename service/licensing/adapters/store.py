"""The SQL store: loads what a batch of commands needs, writes what it changed.

Everything a batch does happens in one transaction (``Store.batch``), which
first proves that this worker still owns the partition (the fencing epoch), so
a worker that lost its partition while paused cannot commit anything.
"""

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from licensing_contracts import (
    Claim,
    Command,
    MoveOrganization,
    Release,
)

from ..domain import Account, Allocation, Organization
from ..domain.model import Level
from . import tables as t

ProcessedKey = tuple[str, str]


class Fenced(Exception):
    """This worker no longer owns the partition: another one took it over."""


@dataclass(frozen=True)
class OutboxRow:
    """Something to publish once the transaction that wrote it has committed."""

    kind: str  # "stream" (XADD of plain JSON) or "reply" (FastStream request reply)
    target: str
    payload: str
    correlation_id: str | None = None
    id: int = 0


def to_level(level_id: str) -> Level:
    return None if level_id == t.ACCOUNT_LEVEL else level_id


def from_level(level: Level) -> str:
    return t.ACCOUNT_LEVEL if level is None else level


class Store:
    """SQLite or PostgreSQL, through one SQLAlchemy async engine."""

    def __init__(self, engine: AsyncEngine, *, max_depth: int = 8) -> None:
        self.engine = engine
        self.max_depth = max_depth

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def take_partition(self, partition: int, owner: str) -> int:
        """Raise the partition's epoch and return it: older owners are fenced out."""
        async with self.engine.begin() as connection:
            epoch = await connection.scalar(
                update(t.partitions)
                .where(t.partitions.c.partition == partition)
                .values(
                    epoch=t.partitions.c.epoch + 1, owner=owner, taken_at=func.now()
                )
                .returning(t.partitions.c.epoch)
            )
            if epoch is None:
                epoch = 1
                await connection.execute(
                    insert(t.partitions).values(
                        partition=partition, epoch=1, owner=owner
                    )
                )
            return int(epoch)

    @asynccontextmanager
    async def batch(self, partition: int, epoch: int) -> AsyncIterator["Batch"]:
        """One transaction for a batch; it commits only if the partition is ours."""
        async with self.engine.begin() as connection:
            fenced = await connection.execute(
                update(t.partitions)
                .where(
                    t.partitions.c.partition == partition, t.partitions.c.epoch == epoch
                )
                .values(epoch=t.partitions.c.epoch)
            )
            if fenced.rowcount != 1:
                raise Fenced(f"partition {partition} has moved past epoch {epoch}")
            yield Batch(connection, partition, self.max_depth)

    async def outbox(self, partition: int, limit: int = 1000) -> list[OutboxRow]:
        """What a partition committed but has not published yet, oldest first."""
        o = t.outbox.c
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(o.id, o.kind, o.target, o.payload, o.correlation_id)
                .where(o.partition == partition)
                .order_by(o.id)
                .limit(limit)
            )
            return [
                OutboxRow(r.kind, r.target, r.payload, r.correlation_id, r.id)
                for r in rows
            ]

    async def published(self, partition: int, up_to: int) -> None:
        """Forget outbox rows up to an id, once they are on the streams."""
        async with self.engine.begin() as connection:
            await connection.execute(
                delete(t.outbox).where(
                    t.outbox.c.partition == partition, t.outbox.c.id <= up_to
                )
            )

    async def outbox_backlog(self) -> tuple[int, float]:
        """Rows waiting in the outbox, and the age in seconds of the oldest."""
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(func.count(), func.min(t.outbox.c.created_at))
                )
            ).one()
            count, oldest = row
            if not count or oldest is None:
                return 0, 0.0
            now = await connection.scalar(select(func.now()))
            if now is None or oldest.tzinfo is None or now.tzinfo is None:
                return int(count), 0.0
            return int(count), max(0.0, (now - oldest).total_seconds())

    # Read side: for the CLI and tests, not the command path.

    async def account(self, account_id: str) -> Account | None:
        """The whole account, every organization, allocation and claim loaded."""
        async with self.engine.connect() as connection:
            reader = Batch(connection, -1, self.max_depth)
            accounts = await reader.accounts([account_id], lock=False)
            account = accounts.get(account_id)
            if account is None:
                return None
            c = t.organizations.c
            for row in await connection.execute(
                select(t.organizations).where(c.account_id == account_id)
            ):
                account.organizations[row.organization_id] = _organization(row)
            a = t.allocations.c
            for row in await connection.execute(
                select(t.allocations).where(a.account_id == account_id)
            ):
                account.allocations[(to_level(row.level_id), row.product)] = (
                    _allocation(row)
                )
            k = t.claims.c
            for row in await connection.execute(
                select(t.claims).where(k.account_id == account_id)
            ):
                account.claims[(row.product, row.user_id)] = to_level(row.level_id)
            return account

    async def history(
        self, account_id: str, after: int = 0, limit: int = 100
    ) -> list[str]:
        """An account's events, oldest first, as their JSON documents."""
        e = t.events.c
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(e.payload)
                .where(e.account_id == account_id, e.sequence > after)
                .order_by(e.sequence)
                .limit(limit)
            )
            return [row.payload for row in rows]


class Batch:
    """The open transaction of one batch."""

    def __init__(self, connection: AsyncConnection, partition: int, max_depth: int):
        self.connection = connection
        self.partition = partition
        self.max_depth = max_depth

    async def processed(
        self, keys: Iterable[ProcessedKey]
    ) -> dict[ProcessedKey, tuple[str, str]]:
        """(account_id, command_id) -> (body hash, outcome JSON), for known commands."""
        keys = list(set(keys))
        if not keys:
            return {}
        p = t.processed_commands.c
        rows = await self.connection.execute(
            select(p.account_id, p.command_id, p.body_hash, p.outcome).where(
                tuple_(p.account_id, p.command_id).in_(keys)
            )
        )
        return {(r.account_id, r.command_id): (r.body_hash, r.outcome) for r in rows}

    async def accounts(
        self, account_ids: Iterable[str], *, lock: bool = True
    ) -> dict[str, Account]:
        """The accounts that exist, locked in id order, with their admins."""
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        query = (
            select(t.accounts.c.account_id, t.accounts.c.sequence)
            .where(t.accounts.c.account_id.in_(ids))
            .order_by(t.accounts.c.account_id)
        )
        if lock and self.connection.dialect.name == "postgresql":
            query = query.with_for_update()
        found = {
            row.account_id: Account(
                row.account_id, sequence=row.sequence, max_depth=self.max_depth
            )
            for row in await self.connection.execute(query)
        }
        if found:
            admins = t.account_admins.c
            for row in await self.connection.execute(
                select(admins.account_id, admins.user_id).where(
                    admins.account_id.in_(list(found))
                )
            ):
                found[row.account_id].admins.add(row.user_id)
        return found

    async def load(self, commands: Sequence[Command]) -> dict[str, Account]:
        """The accounts of the commands, with every level, claim and allocation the
        commands can touch; levels are found by walking up from those named."""
        accounts = await self.accounts(c.account_id for c in commands)
        await self._load_claims(accounts, commands)
        await self._load_organizations(accounts, commands)
        await self._load_subtrees(accounts, commands)
        await self._load_allocations(accounts)
        return accounts

    async def _load_claims(
        self, accounts: dict[str, Account], commands: Sequence[Command]
    ) -> None:
        keys = {
            (c.account_id, c.product, c.user_id)
            for c in commands
            if isinstance(c, Claim | Release) and c.account_id in accounts
        }
        if not keys:
            return
        k = t.claims.c
        rows = await self.connection.execute(
            select(k.account_id, k.product, k.user_id, k.level_id).where(
                tuple_(k.account_id, k.product, k.user_id).in_(list(keys))
            )
        )
        for row in rows:
            accounts[row.account_id].claims[(row.product, row.user_id)] = to_level(
                row.level_id
            )

    async def _load_organizations(
        self, accounts: dict[str, Account], commands: Sequence[Command]
    ) -> None:
        wanted: set[tuple[str, str]] = set()
        for command in commands:
            if command.account_id not in accounts:
                continue
            for name in ("organization_id", "parent_id"):
                value = getattr(command, name, None)
                if value is not None:
                    wanted.add((command.account_id, value))
        for account in accounts.values():
            wanted.update(
                (account.id, level) for level in account.claims.values() if level
            )

        c = t.organizations.c
        while wanted:
            rows = await self.connection.execute(
                select(t.organizations).where(
                    tuple_(c.account_id, c.organization_id).in_(list(wanted))
                )
            )
            for account_id, organization_id in wanted:
                accounts[account_id].organizations.setdefault(organization_id, None)
            parents = set()
            for row in rows:
                account = accounts[row.account_id]
                account.organizations[row.organization_id] = _organization(row)
                if row.parent_id and row.parent_id not in account.organizations:
                    parents.add((row.account_id, row.parent_id))
            wanted = parents

    async def _load_subtrees(
        self, accounts: dict[str, Account], commands: Sequence[Command]
    ) -> None:
        frontier = {
            (c.account_id, c.organization_id)
            for c in commands
            if isinstance(c, MoveOrganization) and c.account_id in accounts
        }
        c = t.organizations.c
        while frontier:
            rows = await self.connection.execute(
                select(t.organizations).where(
                    tuple_(c.account_id, c.parent_id).in_(list(frontier))
                )
            )
            frontier = set()
            for row in rows:
                accounts[row.account_id].organizations[row.organization_id] = (
                    _organization(row)
                )
                frontier.add((row.account_id, row.organization_id))

    async def _load_allocations(self, accounts: dict[str, Account]) -> None:
        levels = set()
        for account in accounts.values():
            levels.add((account.id, t.ACCOUNT_LEVEL))
            levels.update(
                (account.id, org_id)
                for org_id, org in account.organizations.items()
                if org is not None
            )
        if not levels:
            return
        a = t.allocations.c
        rows = await self.connection.execute(
            select(t.allocations).where(
                tuple_(a.account_id, a.level_id).in_(list(levels))
            )
        )
        for row in rows:
            key = (to_level(row.level_id), row.product)
            accounts[row.account_id].allocations[key] = _allocation(row)

    async def save(self, accounts: Iterable[Account]) -> None:
        """Write what the commands changed in these accounts; forget the changes."""
        created, sequences = [], []
        admins_changed: list[Account] = []
        org_rows, org_gone = [], []
        allocation_rows, allocation_gone = [], []
        claim_rows, claim_gone = [], []
        for account in accounts:
            changes = account.changes
            if changes.opened:
                created.append({"account_id": account.id, "sequence": account.sequence})
            else:
                sequences.append({"a": account.id, "s": account.sequence})
            if changes.admins:
                admins_changed.append(account)
            for org_id in changes.organizations:
                org = account.organizations.get(org_id)
                if org is None:
                    org_gone.append((account.id, org_id))
                else:
                    org_rows.append(_organization_row(account.id, org))
            for level, product in changes.allocations:
                found = account.allocations.get((level, product))
                key = (account.id, from_level(level), product)
                if found is None or (level is not None and found.empty):
                    allocation_gone.append(key)
                else:
                    allocation_rows.append(_allocation_row(key, found))
            for product, user_id in changes.claims:
                level = account.claims.get((product, user_id), False)
                if level is False:
                    claim_gone.append((account.id, product, user_id))
                else:
                    claim_rows.append(
                        {
                            "account_id": account.id,
                            "product": product,
                            "user_id": user_id,
                            "level_id": from_level(level),  # type: ignore[arg-type]
                        }
                    )
            changes.clear()

        run = self.connection.execute
        if created:
            await run(insert(t.accounts), created)
        if sequences:
            await run(
                update(t.accounts)
                .where(t.accounts.c.account_id == _bind("a"))
                .values(sequence=_bind("s")),
                sequences,
            )
        for account in admins_changed:
            await run(
                delete(t.account_admins).where(
                    t.account_admins.c.account_id == account.id
                )
            )
            await run(
                insert(t.account_admins),
                [
                    {"account_id": account.id, "user_id": u}
                    for u in sorted(account.admins)
                ],
            )
        await self._delete(t.organizations, ("account_id", "organization_id"), org_gone)
        await self._upsert(t.organizations, org_rows)
        await self._delete(
            t.allocations, ("account_id", "level_id", "product"), allocation_gone
        )
        await self._upsert(t.allocations, allocation_rows)
        await self._delete(t.claims, ("account_id", "product", "user_id"), claim_gone)
        await self._upsert(t.claims, claim_rows)

    async def record(
        self,
        processed: list[dict[str, Any]],
        events: list[dict[str, Any]],
        outbox: list[OutboxRow],
    ) -> list[OutboxRow]:
        """Store outcomes, the event history and the outbox; returns the outbox rows
        with their ids."""
        if processed:
            await self.connection.execute(insert(t.processed_commands), processed)
        if events:
            await self.connection.execute(insert(t.events), events)
        if not outbox:
            return []
        rows = [
            {
                "partition": self.partition,
                "kind": row.kind,
                "target": row.target,
                "payload": row.payload,
                "correlation_id": row.correlation_id,
            }
            for row in outbox
        ]
        ids = await self.connection.execute(
            insert(t.outbox).returning(t.outbox.c.id, sort_by_parameter_order=True),
            rows,
        )
        return [
            OutboxRow(row.kind, row.target, row.payload, row.correlation_id, new_id)
            for row, (new_id,) in zip(outbox, ids, strict=True)
        ]

    async def _delete(
        self, table: Table, columns: tuple[str, ...], keys: list[tuple[str, ...]]
    ) -> None:
        if keys:
            key = tuple_(*(table.c[name] for name in columns))
            await self.connection.execute(delete(table).where(key.in_(keys)))

    async def _upsert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        dialect = postgresql if self.connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table)
        keys = [c.name for c in table.primary_key.columns]
        statement = statement.on_conflict_do_update(
            index_elements=keys,
            set_={
                c.name: statement.excluded[c.name]
                for c in table.columns
                if c.name not in keys
            },
        )
        await self.connection.execute(statement, rows)


def _bind(name: str) -> Any:
    return bindparam(name)


def _organization(row: Any) -> Organization:
    return Organization(
        row.organization_id, row.parent_id, row.name, row.depth, row.children
    )


def _organization_row(account_id: str, org: Organization) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "organization_id": org.id,
        "parent_id": org.parent_id,
        "name": org.name,
        "depth": org.depth,
        "children": org.children,
    }


def _allocation(row: Any) -> Allocation:
    return Allocation(row.dedicated, row.handed, row.drawn)


def _allocation_row(
    key: tuple[str, str, str], allocation: Allocation
) -> dict[str, Any]:
    account_id, level_id, product = key
    return {
        "account_id": account_id,
        "level_id": level_id,
        "product": product,
        "dedicated": allocation.dedicated,
        "handed": allocation.handed,
        "drawn": allocation.drawn,
    }
