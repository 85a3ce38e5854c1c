"""Read-only views of the store for the CLI: figure trees and history."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from rich.table import Table

from ..adapters.database import create_engine
from ..adapters.store import Store
from ..domain import Account
from ..domain.model import Level
from ..settings import Settings


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[Store]:
    store = Store(create_engine(settings.database_url), max_depth=settings.max_depth)
    try:
        yield store
    finally:
        await store.close()


async def load_account(settings: Settings, account_id: str) -> Account | None:
    async with _store(settings) as store:
        return await store.account(account_id)


async def history(
    settings: Settings, account_id: str, after: int, limit: int
) -> list[str]:
    async with _store(settings) as store:
        return await store.history(account_id, after, limit)


def products(account: Account) -> list[str]:
    found = {p for (_, p) in account.allocations} | {p for (p, _) in account.claims}
    return sorted(found)


def levels_in_tree_order(account: Account) -> list[tuple[Level, int]]:
    """Every level with its depth, parents before children, siblings by id."""
    children: dict[Level, list[str]] = {}
    for org in account.organizations.values():
        if org is not None:
            children.setdefault(org.parent_id, []).append(org.id)
    ordered: list[tuple[Level, int]] = []

    def visit(level: Level, depth: int) -> None:
        ordered.append((level, depth))
        for child in sorted(children.get(level, [])):
            visit(child, depth + 1)

    visit(None, 0)
    return ordered


def _cell(value: Any) -> str:
    return "—" if value is None else str(value)


def figures_table(account: Account, product: str) -> Table:
    table = Table(title=f"{account.id} · {product}", title_justify="left")
    table.add_column("level")
    for heading in ("dedicated", "pool", "assigned users", "available"):
        table.add_column(heading, justify="right")
    table.add_column("draws from")
    for level, depth in levels_in_tree_order(account):
        f = account.figures(level, product)
        name = "account" if level is None else level
        funding = "itself" if f.funding_level == level else _cell(f.funding_level)
        if f.funding_level is None and level is not None:
            funding = "account"
        table.add_row(
            "  " * depth + name,
            _cell(f.dedicated),
            _cell(f.pool),
            str(f.assigned_users),
            str(f.available),
            funding,
        )
    return table


def history_table(account_id: str, events: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{account_id} · history", title_justify="left")
    for heading in ("#", "when", "type", "product", "change", "command"):
        table.add_column(heading)
    for event in events:
        change = dict(event["change"])
        kind = change.pop("kind", "")
        detail = " ".join(f"{k}={v}" for k, v in change.items() if v is not None)
        when = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
        table.add_row(
            str(event["sequence"]),
            when.strftime("%Y-%m-%d %H:%M:%S"),
            event["type"],
            event.get("product") or "",
            f"{kind} {detail}".strip(),
            "{} by {} {}".format(
                event["command_type"], event["actor"]["kind"], event["actor"]["id"]
            ),
        )
    return table
