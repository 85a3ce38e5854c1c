"""Driving the store the way a partition consumer does, and reading it back."""

import itertools
import json
from typing import Any

from sqlalchemy import event

from licensing.adapters.store import Store
from licensing.domain import Account
from licensing.service_layer.messages import Entry, decode
from licensing.service_layer.processor import Applied, Processor
from licensing_contracts import Outcome, Streams

from .documents import PRODUCT, Document

STREAMS = Streams("store-test")


class Partition:
    """One command partition: entries go in as a batch, outcomes come out."""

    def __init__(self, store: Store, number: int, epoch: int) -> None:
        self.store = store
        self.number = number
        self.epoch = epoch
        self.processor = Processor(store, STREAMS)
        self._entry_ids = itertools.count(1)

    def entry(self, document: Document | bytes) -> Entry:
        """A stream entry holding the document, or the given bytes as they are."""
        data = document if isinstance(document, bytes) else json.dumps(document)
        if isinstance(data, str):
            data = data.encode()
        stream = STREAMS.commands(self.number)
        return Entry(stream, f"{next(self._entry_ids)}-0", {b"__data__": data})

    async def batch(self, *documents: Document | bytes) -> Applied:
        """Apply the documents in one transaction, as one batch of the stream."""
        decoded = [decode(self.entry(document)) for document in documents]
        return await self.processor.apply(self.number, self.epoch, decoded)

    async def apply(self, *documents: Document | bytes) -> list[Outcome]:
        applied = await self.batch(*documents)
        return [outcome for _, outcome in applied.outcomes]

    async def one_by_one(self, *documents: Document) -> list[Outcome]:
        """Apply each document in a batch of its own."""
        return [outcome for d in documents for outcome in await self.apply(d)]


async def stored(store: Store, account_id: str = "acme") -> Account:
    account = await store.account(account_id)
    assert account is not None, f"account {account_id} is not in the store"
    return account


def figures(
    account: Account, level: str | None, product: str = PRODUCT
) -> tuple[int | None, int | None, int, int]:
    """(dedicated, pool, assigned_users, available) of a level."""
    found = account.figures(level, product)
    return found.dedicated, found.pool, found.assigned_users, found.available


async def history(store: Store, account_id: str = "acme") -> list[dict[str, Any]]:
    return [json.loads(p) for p in await store.history(account_id, limit=10_000)]


def statuses(outcomes: list[Outcome]) -> list[str]:
    """accepted, or the reason of a refusal, for each outcome."""
    return [o.reason.value if o.reason else o.status for o in outcomes]


class StatementLog:
    """Every SQL statement an engine runs while the log is open, with its rows.

    The rows of a statement are those it returned (a SELECT, or a RETURNING),
    else those it wrote. Both async drivers' adapters buffer a result's rows in
    ``_rows`` before SQLAlchemy sees them, which is where they are counted.
    """

    def __init__(self, store: Store) -> None:
        self.engine = store.engine.sync_engine
        self.statements: list[tuple[str, str, int]] = []

    def __enter__(self) -> "StatementLog":
        event.listen(self.engine, "after_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "after_cursor_execute", self._record)

    def _record(
        self,
        _connection: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        executemany: bool,
    ) -> None:
        verb = statement.split(None, 1)[0].upper()
        if cursor.description is not None:
            rows = len(cursor._rows)
        elif executemany and _parameter_sets(parameters):
            rows = len(parameters)
        else:
            rows = cursor.rowcount
        self.statements.append((verb, _table_of(statement), rows))

    @property
    def rows(self) -> int:
        return sum(rows for _, _, rows in self.statements)


def _parameter_sets(parameters: Any) -> bool:
    """Whether parameters hold one set per row (an executemany of its own), not
    the flattened values of one multi-row statement."""
    return bool(parameters) and isinstance(parameters[0], tuple | list | dict)


def _table_of(statement: str) -> str:
    words = statement.replace('"', " ").replace("(", " ").split()
    keyword = {"INSERT": "INTO", "UPDATE": "UPDATE"}.get(words[0].upper(), "FROM")
    return words[words.index(keyword) + 1] if keyword in words else ""
