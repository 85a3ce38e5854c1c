"""How the cost of a claim grows with the claims an account already holds.

Sending a million claims through the bus would take longer than the rest of
the benchmark together, so the existing claims are written straight into the
database with one bulk INSERT … SELECT per level, and the counters of every
level they are charged to are raised in the same transaction, exactly as the
rules would have raised them (the rules' own ``Account.chain`` says which
levels those are). Seeded claims have no events in the account's history.
"""

from collections import Counter
from dataclasses import replace

from sqlalchemy import text

from ..adapters import tables as t
from ..adapters.database import create_engine
from ..adapters.store import Store, from_level
from ..domain.audit import violations
from ..domain.model import Account, Level
from .workload import SERVICE, TESTOPS, Sent, command

PURCHASED = 10_000_000
G1_QUANTITY = 6_000_000
ORGANIZATIONS: list[tuple[str, str | None]] = [
    ("g1", None),
    ("g1.a", "g1"),
    ("g1.a.b", "g1.a"),
    ("g1.a.b.c", "g1.a.b"),
    ("g2", None),
    ("g2.a", "g2"),
]
SHARES: list[tuple[Level, int]] = [
    (None, 3),
    ("g1.a.b.c", 3),
    ("g1", 1),
    ("g2.a", 3),
]
"""Where seeded claims sit, in tenths: the account, a deep sharing level under a
funded organization, the funded organization, a sharing level under the account."""
PROBE_LEVELS: list[Level] = [None, "g1.a.b.c", "g1", "g2.a"]
AUDIT_UP_TO = 200_000
"""Above this many claims the full recount would load too much into memory."""


def setup_commands(run: str, account: str) -> list[Sent]:
    ids = (f"{run}-growth-setup-{n}" for n in range(10**6))
    found = [
        command(next(ids), "open_account", account, admins=["admin"]),
        command(
            next(ids), "set_purchased", account, product=TESTOPS, quantity=PURCHASED
        ),
    ]
    for org, parent in ORGANIZATIONS:
        found.append(
            command(
                next(ids),
                "create_organization",
                account,
                organization_id=org,
                parent_id=parent,
                name=org,
            )
        )
    found.append(
        command(
            next(ids),
            "assign",
            account,
            organization_id="g1",
            product=TESTOPS,
            quantity=G1_QUANTITY,
        )
    )
    return found


def probes(run: str, accounts: dict[int, str], pairs: int) -> list[Sent]:
    """Claims of fresh users at several depths, each released right after,
    going round the accounts; the kind names the size ("claim 1000")."""
    found = []
    for n in range(pairs):
        for size, account in accounts.items():
            user = f"probe-{n}"
            actor = {"kind": "user", "id": user}
            claim = command(
                f"{run}-{size}-claim-{n}",
                "claim",
                account,
                actor=actor,
                organization_id=PROBE_LEVELS[n % len(PROBE_LEVELS)],
                product=TESTOPS,
                user_id=user,
            )
            release = command(
                f"{run}-{size}-release-{n}",
                "release",
                account,
                actor=actor,
                product=TESTOPS,
                user_id=user,
            )
            found.append(replace(claim, kind=f"claim {size}"))
            found.append(replace(release, kind=f"release {size}"))
    return found


def split(count: int) -> list[tuple[Level, int]]:
    """How many of ``count`` new claims go to each level."""
    total = sum(share for _, share in SHARES)
    parts = [(level, count * share // total) for level, share in SHARES]
    parts[0] = (parts[0][0], parts[0][1] + count - sum(n for _, n in parts))
    return parts


_INSERT = {
    "postgresql": (
        "INSERT INTO claims (account_id, product, user_id, level_id) "
        "SELECT :account, :product, 'seed-' || i, :level "
        "FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) AS i"
    ),
    "sqlite": (
        "INSERT INTO claims (account_id, product, user_id, level_id) "
        "WITH RECURSIVE s(i) AS (SELECT :low UNION ALL SELECT i + 1 FROM s "
        "WHERE i < :high) "
        "SELECT :account, :product, 'seed-' || i, :level FROM s"
    ),
}


class Seeder:
    """Adds claims to one account with bulk SQL, keeping its counters true."""

    def __init__(self, database_url: str, account: str) -> None:
        self.store = Store(create_engine(database_url))
        self.account = account
        self.seeded = 0
        self._tree: Account | None = None

    async def close(self) -> None:
        await self.store.close()

    async def grow_to(self, size: int) -> None:
        """Seed claims until the account holds ``size`` of them."""
        if self._tree is None:
            # The tree and its funded levels; the seeding does not change them.
            self._tree = await self.store.account(self.account)
            assert self._tree is not None, f"account {self.account} is not set up"
        raises: Counter[tuple[Level, str]] = Counter()
        inserts = []
        low = self.seeded + 1
        for level, count in split(size - self.seeded):
            if not count:
                continue
            inserts.append((level, low, low + count - 1))
            low += count
            for step in self._tree.chain(level, TESTOPS):
                raises[(step, TESTOPS)] += count

        engine = self.store.engine
        dialect = engine.dialect.name
        async with engine.begin() as connection:
            for level, first, last in inserts:
                await connection.execute(
                    text(_INSERT[dialect]),
                    {
                        "account": self.account,
                        "product": TESTOPS,
                        "level": from_level(level),
                        "low": first,
                        "high": last,
                    },
                )
            for (level, product), count in raises.items():
                await self._raise_drawn(connection, level, product, count)
        self.seeded = size
        if dialect == "postgresql":
            async with engine.connect() as connection:
                autocommit = await connection.execution_options(
                    isolation_level="AUTOCOMMIT"
                )
                # Fresh planner statistics, and the seeding's dirty pages written
                # out now rather than by a checkpoint in the middle of the probes.
                await autocommit.execute(text("ANALYZE"))
                await autocommit.execute(text("CHECKPOINT"))

    async def _raise_drawn(
        self, connection: object, level: Level, product: str, count: int
    ) -> None:
        a = t.allocations.c
        key = (a.account_id == self.account) & (a.level_id == from_level(level))
        key &= a.product == product
        result = await connection.execute(  # type: ignore[attr-defined]
            t.allocations.update().where(key).values(drawn=a.drawn + count)
        )
        if result.rowcount == 0:
            await connection.execute(  # type: ignore[attr-defined]
                t.allocations.insert().values(
                    account_id=self.account,
                    level_id=from_level(level),
                    product=product,
                    dedicated=None,
                    handed=0,
                    drawn=count,
                )
            )

    async def audit(self) -> list[str] | None:
        """Every counter recomputed from the claims; None when too many to load."""
        if self.seeded > AUDIT_UP_TO:
            return None
        account = await self.store.account(self.account)
        assert account is not None
        return violations(account)


__all__ = ["SERVICE", "Seeder", "probes", "setup_commands", "split"]
