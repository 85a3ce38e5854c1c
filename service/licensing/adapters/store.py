"""The SQL store: loads what a batch of commands needs, writes what it changed.

Everything a batch does happens in one transaction (``Store.batch``), which
first proves that this worker still owns the partition (the fencing epoch), so
a worker that lost its partition while paused cannot commit anything. The same
statement forgets the outbox rows published since the last batch, so that a
steady stream of batches costs no transaction of its own for that.
"""

import json
import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    TextClause,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from licensing_contracts import (
    Assign,
    Claim,
    Command,
    MoveOrganization,
    Release,
)

from ..domain import Account, Allocation, Organization
from ..domain.model import Level
from . import tables as t
from .cache import AccountCache, Cached, ClaimKey

ProcessedKey = tuple[str, str]
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")
_FENCE = (
    "UPDATE partitions SET epoch = epoch "
    "WHERE partition = :partition AND epoch = :epoch"
)
_FORGET = "DELETE FROM outbox WHERE partition = :partition AND id <= :published"
# PostgreSQL: the fence and the forgetting in one round trip; the statement's
# row count is the UPDATE's.
_FENCE_AND_FORGET = text(f"WITH forgotten AS ({_FORGET}) {_FENCE}")


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

    def __init__(
        self, engine: AsyncEngine, *, max_depth: int = 8, cache_size: int = 0
    ) -> None:
        self.engine = engine
        self.max_depth = max_depth
        # PostgreSQL only: SQLite runs in-process, where reading is cheap.
        self.cache = AccountCache(
            cache_size if engine.dialect.name == "postgresql" else 0
        )
        # Per partition: outbox rows up to this id are published (``forget``)
        # and up to that one deleted.
        self._published: dict[int, int] = {}
        self._forgotten: dict[int, int] = {}

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
        """One transaction for a batch; it commits only if the partition is ours.
        It also deletes the outbox rows ``forget`` was told about."""
        published = self._published.get(partition, 0)
        params = {"partition": partition, "epoch": epoch, "published": published}
        batch: Batch | None = None
        try:
            async with self.engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    fenced = await connection.execute(_FENCE_AND_FORGET, params)
                else:
                    fenced = await connection.execute(text(_FENCE), params)
                    if published > self._forgotten.get(partition, 0):
                        await connection.execute(text(_FORGET), params)
                if fenced.rowcount != 1:
                    raise Fenced(f"partition {partition} has moved past epoch {epoch}")
                batch = Batch(connection, partition, self.max_depth, self.cache)
                yield batch
        except BaseException:
            # Rolled back, or its commit is unsure: what it did in memory is not
            # what the database holds.
            if batch is not None:
                batch.uncache()
            raise
        self._forgotten[partition] = max(self._forgotten.get(partition, 0), published)
        batch.cache_committed()

    def forget(self, partition: int, up_to: int) -> None:
        """Outbox rows up to an id are on the streams: the next batch of the
        partition deletes them in its own transaction."""
        if up_to > self._published.get(partition, 0):
            self._published[partition] = up_to

    def unforgotten(self, partition: int) -> int:
        """The id up to which published rows still wait to be deleted, or 0."""
        published = self._published.get(partition, 0)
        return published if published > self._forgotten.get(partition, 0) else 0

    async def outbox(
        self, partition: int, limit: int = 1000, after: int = 0
    ) -> list[OutboxRow]:
        """What a partition committed but has not published yet, oldest first:
        the rows after id ``after``."""
        o = t.outbox.c
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(o.id, o.kind, o.target, o.payload, o.correlation_id)
                .where(o.partition == partition, o.id > after)
                .order_by(o.id)
                .limit(limit)
            )
            return [row for r in rows for row in _unbundled(r)]

    async def published(self, partition: int, up_to: int) -> None:
        """Forget outbox rows up to an id, once they are on the streams."""
        async with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Should a crash of the database lose this delete, the rows are
                # published again, and subscribers drop repeats by their ids:
                # the commit need not wait for the disk.
                await connection.execute(_ASYNC_COMMIT)
            await connection.execute(
                text(_FORGET), {"partition": partition, "published": up_to}
            )
        self.forget(partition, up_to)
        self._forgotten[partition] = max(self._forgotten.get(partition, 0), up_to)

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
    """The open transaction of one batch.

    Every query here has the same SQL text whatever the size of the batch: keys
    and rows travel as one text a column on PostgreSQL (``_as_text``, turned
    into arrays and ``unnest``-ed by the server) and as one JSON document on
    SQLite (``json_each``), rather than as an IN list of one parameter per
    value, so the server prepares and plans each statement once per connection
    instead of once per batch, and a batch takes one round trip per statement.
    """

    def __init__(
        self,
        connection: AsyncConnection,
        partition: int,
        max_depth: int,
        cache: AccountCache | None = None,
    ):
        self.connection = connection
        self.partition = partition
        self.max_depth = max_depth
        self.dialect = connection.dialect.name
        self.cache = cache if cache is not None else AccountCache(0)
        self.loaded_sequences: dict[str, int] = {}
        self.staged = _nothing_staged()
        # Accounts this batch read, and of those the ones it may cache once it
        # commits, with the claim keys they know.
        self.read_accounts: set[str] = set()
        self.cacheable: dict[str, set[ClaimKey]] = {}
        self.saved: list[Account] = []

    def uncache(self) -> None:
        for account_id in self.read_accounts | {a.id for a in self.saved}:
            self.cache.pop(account_id)

    def cache_committed(self) -> None:
        for account in self.saved:
            claims = self.cacheable.get(account.id)
            if claims is not None:
                self.cache.put(Cached(account, claims))

    async def _fetch(
        self, name: str, rows: Sequence[Sequence[Any]], **params: Any
    ) -> Any:
        statement = _statement(self.dialect, name)
        return await self.connection.execute(
            statement, {**_key_params(rows, self.dialect), **params}
        )

    async def read(
        self, commands: Sequence[Command]
    ) -> tuple[dict[ProcessedKey, tuple[str, str]], dict[str, Account]]:
        """What ``processed`` and ``load`` find for these commands. On PostgreSQL
        in one statement (one round trip instead of five), taking from the
        account cache what it holds at the sequence the database holds; the
        accounts of commands already processed are loaded too, which changes
        nothing."""
        ids = {c.account_id for c in commands}
        self.read_accounts = ids
        if self.dialect != "postgresql" or not commands:
            known = await self.processed((c.account_id, c.command_id) for c in commands)
            fresh = [c for c in commands if (c.account_id, c.command_id) not in known]
            return known, await self.load(fresh)

        reshaping = {c.account_id for c in commands if not isinstance(c, _KEPT)}
        cached: dict[str, Cached] = {}
        for account_id in ids:
            if account_id in reshaping:
                self.cache.pop(account_id)
            elif (entry := self.cache.get(account_id)) is not None:
                cached[account_id] = entry
        seen, accounts, stale = await self._read_postgres(commands, cached)
        if stale:  # changed since cached: read them whole
            for account_id in stale:
                self.cache.pop(account_id)
                del cached[account_id]
            again = [c for c in commands if c.account_id in stale]
            _, more, _ = await self._read_postgres(again, {}, processed=False)
            accounts.update(more)

        for account_id in accounts.keys() - reshaping:
            entry = cached.get(account_id)
            self.cacheable[account_id] = entry.claims if entry else set()
        for c in commands:
            if isinstance(c, Claim | Release) and c.account_id in self.cacheable:
                self.cacheable[c.account_id].add((c.product, c.user_id))
        if any(isinstance(c, MoveOrganization) for c in commands):
            await self._load_subtrees(accounts, commands)
            await self._load_allocations(accounts)
        return seen, accounts

    async def _read_postgres(
        self,
        commands: Sequence[Command],
        cached: dict[str, Cached],
        *,
        processed: bool = True,
    ) -> tuple[dict[ProcessedKey, tuple[str, str]], dict[str, Account], set[str]]:
        """The read statement for what the cached accounts do not hold; returns
        also the cached accounts whose sequence moved (stale: not loaded)."""

        def unknown_claim(c: Claim | Release) -> bool:
            entry = cached.get(c.account_id)
            return entry is None or (c.product, c.user_id) not in entry.claims

        named = {
            (account_id, organization_id)
            for account_id, organization_id in _named_organizations(commands)
            if account_id not in cached
            or organization_id not in cached[account_id].account.organizations
        }
        claims = {
            (c.account_id, c.product, c.user_id)
            for c in commands
            if isinstance(c, Claim | Release) and unknown_claim(c)
        }
        ids = {c.account_id for c in commands}
        keys = {(c.account_id, c.command_id) for c in commands} if processed else ()
        params = {
            **_as_text(
                {"p": (list(keys), 2), "c": (list(claims), 3), "o": (list(named), 2)}
            ),
            "a0": sorted(ids),
            "f0": sorted(ids - cached.keys()),
        }
        seen: dict[ProcessedKey, tuple[str, str]] = {}
        accounts: dict[str, Account] = {}
        stale: set[str] = set()
        rows = list(await self.connection.execute(_read_all_statement(), params))
        for row in rows:  # accounts first: the other rows belong to them
            if row.kind != "account":
                continue
            entry = cached.get(row.account_id)
            if entry is None:
                account = Account(
                    row.account_id,
                    set(row.admins or ()),
                    sequence=row.n1,
                    max_depth=self.max_depth,
                )
            elif entry.account.sequence == row.n1:
                account = entry.account
            else:
                stale.add(row.account_id)
                continue
            accounts[row.account_id] = account
            self.loaded_sequences[row.account_id] = row.n1
        for row in rows:
            kind = row.kind
            if kind == "processed":
                seen[(row.account_id, row.a)] = (row.b, row.c)
                continue
            owner = accounts.get(row.account_id)
            if owner is None:  # stale
                continue
            if kind == "claim":
                level = to_level(row.c)
                owner.claims[(row.a, row.b)] = level
                if level is not None:
                    owner.organizations.setdefault(level, None)
            elif kind == "organization":
                owner.organizations[row.a] = Organization(
                    row.a, row.b, row.c, row.n1, row.n2
                )
            elif kind == "allocation":
                owner.allocations[(to_level(row.a), row.b)] = Allocation(
                    row.n1, row.n2, row.n3
                )
        for account_id, organization_id in named:
            if account_id in accounts:
                accounts[account_id].organizations.setdefault(organization_id, None)
        return seen, accounts, stale

    async def processed(
        self, keys: Iterable[ProcessedKey]
    ) -> dict[ProcessedKey, tuple[str, str]]:
        """(account_id, command_id) -> (body hash, outcome JSON), for known commands."""
        keys = list(set(keys))
        if not keys:
            return {}
        rows = await self._fetch("processed", keys)
        return {(r.account_id, r.command_id): (r.body_hash, r.outcome) for r in rows}

    async def accounts(
        self, account_ids: Iterable[str], *, lock: bool = True
    ) -> dict[str, Account]:
        """The accounts that exist, locked in id order, with their admins."""
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        name = "accounts_locked" if lock else "accounts"
        found = {}
        for row in await self._fetch(name, [(i,) for i in ids]):
            admins = row.admins
            if isinstance(admins, str):  # SQLite: a JSON array
                admins = json.loads(admins)
            found[row.account_id] = Account(
                row.account_id,
                set(admins or ()),
                sequence=row.sequence,
                max_depth=self.max_depth,
            )
            self.loaded_sequences[row.account_id] = row.sequence
        return found

    async def load(self, commands: Sequence[Command]) -> dict[str, Account]:
        """The accounts of the commands, with every level, claim and allocation the
        commands can touch; levels are found by walking up from those named."""
        accounts = await self.accounts(c.account_id for c in commands)
        if not accounts:
            return accounts
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
        for row in await self._fetch("claims", list(keys)):
            accounts[row.account_id].claims[(row.product, row.user_id)] = to_level(
                row.level_id
            )

    async def _load_organizations(
        self, accounts: dict[str, Account], commands: Sequence[Command]
    ) -> None:
        wanted = {key for key in _named_organizations(commands) if key[0] in accounts}
        for account in accounts.values():
            wanted.update(
                (account.id, level) for level in account.claims.values() if level
            )
        if not wanted:
            return
        # One recursive query walks from the named levels up to the account.
        rows = await self._fetch("organizations", list(wanted))
        for account_id, organization_id in wanted:
            accounts[account_id].organizations.setdefault(organization_id, None)
        for row in rows:
            accounts[row.account_id].organizations[row.organization_id] = _organization(
                row
            )

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
        for row in await self._fetch("allocations", list(levels)):
            key = (to_level(row.level_id), row.product)
            accounts[row.account_id].allocations[key] = _allocation(row)

    async def save(self, accounts: Iterable[Account]) -> None:
        """Take what the commands changed in these accounts, for ``record`` to
        write (new accounts and admin changes, which are rare, are written now);
        forget the changes."""
        created: list[dict[str, Any]] = []
        sequences: list[tuple[str, int]] = []
        admins_changed: list[Account] = []
        org_rows, org_gone = [], []
        allocation_rows, allocation_gone = [], []
        claim_rows: list[tuple[str, str, str, str]] = []
        claim_gone: list[tuple[str, str, str]] = []
        accounts = list(accounts)
        self.saved = accounts
        for account in accounts:
            changes = account.changes
            if changes.opened:
                created.append({"account_id": account.id, "sequence": account.sequence})
            elif self.loaded_sequences.get(account.id) != account.sequence:
                sequences.append((account.id, account.sequence))
            if changes.admins:
                admins_changed.append(account)
            for org_id in changes.organizations:
                org = account.organizations.get(org_id)
                if org is None:
                    org_gone.append((account.id, org_id))
                else:
                    org_rows.append(
                        (
                            account.id,
                            org.id,
                            org.parent_id,
                            org.name,
                            org.depth,
                            org.children,
                        )
                    )
            for level, product in changes.allocations:
                found = account.allocations.get((level, product))
                key = (account.id, from_level(level), product)
                if found is None or (level is not None and found.empty):
                    allocation_gone.append(key)
                else:
                    allocation_rows.append(
                        (*key, found.dedicated, found.handed, found.drawn)
                    )
            for product, user_id in changes.claims:
                if (product, user_id) in account.claims:
                    level = account.claims[(product, user_id)]
                    claim_rows.append((account.id, product, user_id, from_level(level)))
                else:
                    claim_gone.append((account.id, product, user_id))
            changes.clear()

        run = self.connection.execute
        if created:
            await run(insert(t.accounts), created)
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
        staged = self.staged
        staged["sequences"] += sequences
        staged["organizations_gone"] += org_gone
        staged["organizations_upsert"] += org_rows
        staged["allocations_gone"] += allocation_gone
        staged["allocations_upsert"] += allocation_rows
        staged["claims_gone"] += claim_gone
        staged["claims_upsert"] += claim_rows

    async def record(
        self,
        processed: list[dict[str, Any]],
        events: list[dict[str, Any]],
        outbox: list[OutboxRow],
    ) -> list[OutboxRow]:
        """Write what ``save`` took, the outcomes, the event history and the
        outbox; returns the outbox rows with their ids."""
        staged = self.staged
        staged["processed_insert"] += [
            (p["account_id"], p["command_id"], p["body_hash"], p["outcome"])
            for p in processed
        ]
        staged["events_insert"] += [
            (
                e["account_id"],
                e["sequence"],
                e["event_id"],
                e["type"],
                e["product"],
                e["payload"],
            )
            for e in events
        ]
        rows = _bundled(outbox)
        if self.dialect == "postgresql":
            ids = await self._write_all(rows)
        else:
            ids = await self._write_each(rows)
        self.staged = _nothing_staged()
        if len(ids) < len(outbox):  # one bundle: its rows share its id
            ids = ids * len(outbox)
        return [
            OutboxRow(row.kind, row.target, row.payload, row.correlation_id, new_id)
            for row, new_id in zip(outbox, ids, strict=True)
        ]

    async def _write_all(self, outbox: list[tuple[Any, ...]]) -> list[int]:
        """PostgreSQL: every write of the batch in one statement, one round trip.

        The parts touch disjoint rows (a key is either kept or gone), so it does
        not matter that they do not see each other's changes. Outbox ids come
        from the sequence in insertion order, which follows the ordinality:
        sorted, they line up with the rows.
        """
        groups = {}
        for part, name in enumerate((*_GONE, *_WRITES)):
            rows = outbox if name == "outbox_insert" else self.staged[name]
            width = len(_GONE[name][1] if name in _GONE else _WRITES[name][1])
            groups[f"w{part}_"] = (rows, width)
        params = {"partition": self.partition, **_as_text(groups)}
        result = await self.connection.execute(_write_all_statement(), params)
        return sorted(new_id for (new_id,) in result)

    async def _write_each(self, outbox: list[tuple[Any, ...]]) -> list[int]:
        """SQLite runs in-process: an executemany of a fixed statement per table
        is as cheap as it gets; deletes take their keys as one JSON document."""
        for name, rows in self.staged.items():
            if not rows:
                continue
            if name.endswith("_gone"):
                await self._fetch(name, rows)
                continue
            columns = _WRITES[name][1]
            await self.connection.execute(
                _statement(self.dialect, name),
                [dict(zip(columns, row, strict=True)) for row in rows],
            )
        if not outbox:
            return []
        # The batch holds SQLite's write lock (BEGIN IMMEDIATE): nobody else can
        # take ids between this read and the insert.
        last = int(await self.connection.scalar(_statement("sqlite", "outbox_last")))
        ids = list(range(last + 1, last + 1 + len(outbox)))
        await self.connection.execute(
            _statement("sqlite", "outbox_insert"),
            [
                {
                    "id": new_id,
                    "partition": self.partition,
                    "kind": kind,
                    "target": target,
                    "correlation_id": correlation_id,
                    "payload": payload,
                }
                for new_id, (kind, target, correlation_id, payload) in zip(
                    ids, outbox, strict=True
                )
            ],
        )
        return ids


BUNDLE = "bundle"
"""The kind of an outbox row that holds several messages, one a line: a JSON
array [kind, target, correlation_id], a tab, the payload. A batch writes one
row, not one a message. Payloads are JSON documents as pydantic writes them:
never a raw line break in them."""
_PLAIN_HEADERS: dict[tuple[str, str], str] = {}


def _header(row: OutboxRow) -> str:
    if row.correlation_id is not None:
        return json.dumps([row.kind, row.target, row.correlation_id])
    key = (row.kind, row.target)
    found = _PLAIN_HEADERS.get(key)
    if found is None:
        found = json.dumps([row.kind, row.target, None])
        if row.kind == "stream":  # the service's own few streams
            _PLAIN_HEADERS[key] = found
    return found


def _bundled(outbox: Sequence[OutboxRow]) -> list[tuple[Any, ...]]:
    if len(outbox) <= 1 or any(
        "\n" in row.payload for row in outbox
    ):  # not as pydantic writes
        return [(r.kind, r.target, r.correlation_id, r.payload) for r in outbox]
    lines = "\n".join(f"{_header(row)}\t{row.payload}" for row in outbox)
    return [(BUNDLE, "", None, lines)]


def _unbundled(row: Any) -> list[OutboxRow]:
    if row.kind != BUNDLE:
        return [
            OutboxRow(row.kind, row.target, row.payload, row.correlation_id, row.id)
        ]
    rows = []
    for line in row.payload.split("\n"):
        header, _, payload = line.partition("\t")
        kind, target, correlation_id = json.loads(header)
        rows.append(OutboxRow(kind, target, payload, correlation_id, row.id))
    return rows


_KEPT = (Claim, Release, Assign)
"""Commands after which an account may stay cached: they change claims and
counters of levels the batch read, never the tree or the admins."""


def _nothing_staged() -> dict[str, list[tuple[Any, ...]]]:
    return {name: [] for name in (*_GONE, *_WRITES) if name != "outbox_insert"}


# The statements of a batch, by name: for reads (and deletes), the key columns
# with their PostgreSQL array types, and the SQL with {keys} standing for the
# keys' relation; for writes, the table, its columns and their types, and the
# primary key to upsert on.
_READS: dict[str, tuple[tuple[str, ...], str]] = {
    "processed": (
        ("text", "text"),
        "SELECT p.account_id, p.command_id, p.body_hash, p.outcome "
        "FROM {keys} JOIN processed_commands p "
        "ON p.account_id = k.c0 AND p.command_id = k.c1",
    ),
    "accounts": (
        ("text",),
        "SELECT a.account_id, a.sequence, {admins} AS admins "
        "FROM accounts a WHERE a.account_id IN (SELECT c0 FROM {keys}) "
        "ORDER BY a.account_id",
    ),
    "claims": (
        ("text", "text", "text"),
        "SELECT c.account_id, c.product, c.user_id, c.level_id "
        "FROM {keys} JOIN claims c "
        "ON c.account_id = k.c0 AND c.product = k.c1 AND c.user_id = k.c2",
    ),
    "organizations": (
        ("text", "text"),
        "WITH RECURSIVE found(account_id, organization_id, parent_id, name, depth, "
        "children) AS ("
        "SELECT o.account_id, o.organization_id, o.parent_id, o.name, o.depth, "
        "o.children FROM {keys} JOIN organizations o "
        "ON o.account_id = k.c0 AND o.organization_id = k.c1 "
        "UNION "
        "SELECT o.account_id, o.organization_id, o.parent_id, o.name, o.depth, "
        "o.children FROM found f JOIN organizations o "
        "ON o.account_id = f.account_id AND o.organization_id = f.parent_id"
        ") SELECT account_id, organization_id, parent_id, name, depth, children "
        "FROM found",
    ),
    "allocations": (
        ("text", "text"),
        "SELECT a.account_id, a.level_id, a.product, a.dedicated, a.handed, a.drawn "
        "FROM {keys} JOIN allocations a "
        "ON a.account_id = k.c0 AND a.level_id = k.c1",
    ),
}
_GONE: dict[str, tuple[str, tuple[str, ...]]] = {
    "organizations_gone": ("organizations", ("account_id", "organization_id")),
    "allocations_gone": ("allocations", ("account_id", "level_id", "product")),
    "claims_gone": ("claims", ("account_id", "product", "user_id")),
}
_WRITES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    "sequences": ("accounts", ("account_id", "sequence"), ("text", "bigint"), ""),
    "organizations_upsert": (
        "organizations",
        ("account_id", "organization_id", "parent_id", "name", "depth", "children"),
        ("text", "text", "text", "text", "integer", "integer"),
        "account_id, organization_id",
    ),
    "allocations_upsert": (
        "allocations",
        ("account_id", "level_id", "product", "dedicated", "handed", "drawn"),
        ("text", "text", "text", "bigint", "bigint", "bigint"),
        "account_id, level_id, product",
    ),
    "claims_upsert": (
        "claims",
        ("account_id", "product", "user_id", "level_id"),
        ("text", "text", "text", "text"),
        "account_id, product, user_id",
    ),
    "processed_insert": (
        "processed_commands",
        ("account_id", "command_id", "body_hash", "outcome"),
        ("text", "text", "text", "text"),
        "",
    ),
    "events_insert": (
        "events",
        ("account_id", "sequence", "event_id", "type", "product", "payload"),
        ("text", "bigint", "text", "text", "text", "text"),
        "",
    ),
    "outbox_insert": (
        "outbox",
        ("kind", "target", "correlation_id", "payload"),
        ("text", "text", "text", "text"),
        "",
    ),
}


def _keys(dialect: str, types: Sequence[str], prefix: str = "k") -> str:
    """A relation ``k`` with columns c0, c1, … holding the keys of one call."""
    if dialect == "postgresql":  # each column one text: see _as_text
        arrays = ", ".join(
            f"CAST((string_to_array(:{prefix}{i}, :sep, :null))[2:] AS {kind}[])"
            for i, kind in enumerate(types)
        )
        names = ", ".join(f"c{i}" for i in range(len(types)))
        return f"unnest({arrays}) AS k({names})"
    columns = ", ".join(
        f"json_extract(value, '$[{i}]') AS c{i}" for i in range(len(types))
    )
    return f"(SELECT {columns} FROM json_each(:keys)) AS k"


def _key_params(rows: Sequence[Sequence[Any]], dialect: str) -> dict[str, Any]:
    """The keys of one call (never none): a text per column, or one JSON array."""
    if dialect == "postgresql":
        return _as_text({"k": (rows, len(rows[0]))})
    return {"keys": json.dumps(rows)}


_SEPARATOR = "\x1f"  # ASCII's unit separator
_NULL = "\x1e"


def _as_text(
    groups: Mapping[str, tuple[Sequence[Sequence[Any]], int]],
) -> dict[str, Any]:
    """PostgreSQL: the columns of groups of rows (prefix: rows, width) as the
    parameters ``_keys`` reads: column i of group p is the text ``pi``, every
    value preceded by the separator ``sep`` and None written as ``null``.

    asyncpg encodes a list parameter one element at a time, checking each for
    nested sequences: with the few thousand values of a 500-command batch that
    was over a third of the worker's CPU in its write statement. Joining text
    is done in C, and ``string_to_array`` is cheap for the server. The
    separator and the null marker are chosen so that no value contains the
    one or equals the other.
    """
    columns: dict[str, Sequence[Any]] = {}
    for prefix, (rows, width) in groups.items():
        for i, column in enumerate(zip(*rows, strict=True) if rows else [()] * width):
            columns[f"{prefix}{i}"] = column
    sep, null = _SEPARATOR, _NULL
    while True:
        found: dict[str, Any] = {"sep": sep, "null": null}
        for name, values in columns.items():
            if null in values:
                break
            try:
                joined = sep.join(values)
            except TypeError:  # numbers, or None among the texts
                joined = sep.join(
                    [
                        null if v is None else v if isinstance(v, str) else str(v)
                        for v in values
                    ]
                )
            if values and joined.count(sep) != len(values) - 1:
                break  # a value holds the separator
            found[name] = sep + joined if values else ""
        else:
            return found
        sep = f"\x1f{os.urandom(8).hex()}\x1f"
        null = f"\x1e{os.urandom(8).hex()}\x1e"


def _delete_sql(dialect: str, name: str, prefix: str = "k") -> str:
    table, columns = _GONE[name]
    picked = ", ".join(f"c{i}" for i in range(len(columns)))
    source = _keys(dialect, ("text",) * len(columns), prefix)
    key = ", ".join(columns)
    return f"DELETE FROM {table} WHERE ({key}) IN (SELECT {picked} FROM {source})"


def _postgres_write_sql(name: str, prefix: str = "k") -> str:
    """A write of many rows whose values travel as one text per column."""
    table, columns, types, conflict = _WRITES[name]
    source = _keys("postgresql", types, prefix)
    if name == "sequences":
        return (
            f"UPDATE accounts AS a SET sequence = k.c1 FROM {source} "
            "WHERE a.account_id = k.c0"
        )
    if name == "outbox_insert":
        ordered = source.replace(") AS k(", ") WITH ORDINALITY AS k(").replace(
            "c3)", "c3, n)"
        )
        return (
            "INSERT INTO outbox (partition, kind, target, correlation_id, payload) "
            f"SELECT :partition, k.c0, k.c1, k.c2, k.c3 FROM {ordered} "
            "ORDER BY k.n RETURNING id"
        )
    picked = ", ".join(f"k.c{i}" for i in range(len(columns)))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {picked} FROM {source}"
    return sql + _on_conflict(columns, conflict)


def _sqlite_write_sql(name: str) -> str:
    """A write of one row, for executemany."""
    table, columns, _, conflict = _WRITES[name]
    if name == "sequences":
        return "UPDATE accounts SET sequence = :sequence WHERE account_id = :account_id"
    if name == "outbox_insert":
        columns = ("id", "partition", *columns)
    values = ", ".join(f":{c}" for c in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
    return sql + _on_conflict(columns, conflict)


def _on_conflict(columns: Sequence[str], conflict: str) -> str:
    if not conflict:
        return ""
    keys = {c.strip() for c in conflict.split(",")}
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    return f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"


@cache
def _statement(dialect: str, name: str) -> TextClause:
    """One statement's SQL for one dialect, built once."""
    if name in _READS:
        types, sql = _READS[name]
        if name == "accounts":
            admins = (
                "ARRAY(SELECT d.user_id FROM account_admins d "
                "WHERE d.account_id = a.account_id)"
                if dialect == "postgresql"
                else "(SELECT json_group_array(d.user_id) FROM account_admins d "
                "WHERE d.account_id = a.account_id)"
            )
            sql = sql.replace("{admins}", admins)
        return text(sql.replace("{keys}", _keys(dialect, types)))
    if name == "accounts_locked":
        sql = str(_statement(dialect, "accounts"))
        return text(sql + " FOR UPDATE" if dialect == "postgresql" else sql)
    if name == "outbox_last":
        return text("SELECT coalesce(max(id), 0) FROM outbox")
    if name in _GONE:
        return text(_delete_sql(dialect, name))
    if dialect == "postgresql":
        return text(_postgres_write_sql(name))
    return text(_sqlite_write_sql(name))


@cache
def _write_all_statement() -> TextClause:
    """Every write of a batch as one PostgreSQL statement: each delete, upsert and
    insert a data-modifying WITH part (run once, to completion, even unread),
    and the outbox insert last, returning its ids."""
    parts = []
    for part, name in enumerate((*_GONE, *_WRITES)):
        prefix = f"w{part}_"
        if name == "outbox_insert":
            main = _postgres_write_sql(name, prefix)
        elif name in _GONE:
            parts.append(f"{name} AS ({_delete_sql('postgresql', name, prefix)})")
        else:
            parts.append(f"{name} AS ({_postgres_write_sql(name, prefix)})")
    return text("WITH " + ", ".join(parts) + " " + main)


def _named_organizations(commands: Sequence[Command]) -> set[tuple[str, str]]:
    """(account_id, organization_id) of every organization the commands name."""
    found = set()
    for command in commands:
        for name in ("organization_id", "parent_id"):
            value = getattr(command, name, None)
            if value is not None:
                found.add((command.account_id, value))
    return found


@cache
def _read_all_statement() -> TextClause:
    """PostgreSQL: everything a batch reads, as rows of one shape told apart by
    ``kind``. The accounts are locked (FOR UPDATE, in id order); organizations
    are walked up from those the commands name and those their users' claims
    sit at; allocations are read for every level found, and for the account
    level of the accounts in ``f0`` (those not cached).

    Every lookup is a LATERAL subquery on a table's key (``OFFSET 0`` keeps the
    planner from flattening it into a join), so that each key costs one index
    probe whatever the planner believes of the table's size: right after a
    burst, statistics can still describe a table a tenth of its size, and a hash
    join would read all of it.
    """
    keys = _keys  # the relation of the keys in each parameter group
    return text(
        "WITH RECURSIVE "
        "locked AS (SELECT a.account_id, a.sequence, ARRAY(SELECT d.user_id FROM "
        "account_admins d WHERE d.account_id = a.account_id) AS admins "
        "FROM accounts a WHERE a.account_id = ANY(CAST(:a0 AS text[])) "
        "ORDER BY a.account_id FOR UPDATE), "
        "claimed AS (SELECT c.account_id, c.product, c.user_id, c.level_id FROM "
        f"{keys('postgresql', ('text',) * 3, 'c')} CROSS JOIN LATERAL ("
        "SELECT * FROM claims c WHERE c.account_id = k.c0 AND c.product = k.c1 "
        "AND c.user_id = k.c2 OFFSET 0) c), "
        f"wanted AS (SELECT k.c0, k.c1 FROM {keys('postgresql', ('text',) * 2, 'o')} "
        "UNION SELECT account_id, level_id FROM claimed WHERE level_id <> ''), "
        "found(account_id, organization_id, parent_id, name, depth, children) AS ("
        "SELECT o.account_id, o.organization_id, o.parent_id, o.name, o.depth, "
        "o.children FROM wanted w CROSS JOIN LATERAL (SELECT * FROM organizations o "
        "WHERE o.account_id = w.c0 AND o.organization_id = w.c1 OFFSET 0) o "
        "UNION SELECT o.account_id, o.organization_id, o.parent_id, o.name, "
        "o.depth, o.children FROM found f CROSS JOIN LATERAL (SELECT * FROM "
        "organizations o WHERE o.account_id = f.account_id "
        "AND o.organization_id = f.parent_id OFFSET 0) o), "
        "levels AS (SELECT account_id, '' AS level_id FROM locked "
        "WHERE account_id = ANY(CAST(:f0 AS text[])) "
        "UNION SELECT account_id, organization_id FROM found) "
        "SELECT 'account' AS kind, account_id, CAST(NULL AS text) AS a, "
        "CAST(NULL AS text) AS b, CAST(NULL AS text) AS c, sequence AS n1, "
        "CAST(NULL AS bigint) AS n2, CAST(NULL AS bigint) AS n3, admins FROM locked "
        "UNION ALL SELECT 'processed', p.account_id, p.command_id, p.body_hash, "
        "p.outcome, NULL, NULL, NULL, NULL FROM "
        f"{keys('postgresql', ('text',) * 2, 'p')} CROSS JOIN LATERAL ("
        "SELECT * FROM processed_commands p WHERE p.account_id = k.c0 "
        "AND p.command_id = k.c1 OFFSET 0) p "
        "UNION ALL SELECT 'claim', account_id, product, user_id, level_id, NULL, NULL, "
        "NULL, NULL FROM claimed "
        "UNION ALL SELECT 'organization', account_id, organization_id, parent_id, "
        "name, depth, children, NULL, NULL FROM found "
        "UNION ALL SELECT 'allocation', a.account_id, a.level_id, a.product, NULL, "
        "a.dedicated, a.handed, a.drawn, NULL FROM levels l CROSS JOIN LATERAL ("
        "SELECT * FROM allocations a WHERE a.account_id = l.account_id "
        "AND a.level_id = l.level_id OFFSET 0) a"
    )


def _organization(row: Any) -> Organization:
    return Organization(
        row.organization_id, row.parent_id, row.name, row.depth, row.children
    )


def _allocation(row: Any) -> Allocation:
    return Allocation(row.dedicated, row.handed, row.drawn)
