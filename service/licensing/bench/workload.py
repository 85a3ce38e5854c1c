"""What the benchmark sends: account trees to set up, and a mix of commands.

Commands are built as plain JSON documents (the wire format), not pydantic
models, so that the load generator spends as little of the shared CPU as it
can.
"""

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

SERVICE = {"kind": "service", "id": "bench"}
ADMIN = "admin"
TESTOPS = "testops"
"""Dedicated at the top organizations and every other sub-organization."""
STUDIO = "studio"
"""Never dedicated: every claim draws from the account pool."""
PRODUCTS = (TESTOPS, STUDIO)
PURCHASED = 1_000_000
TOP_QUANTITY = 2_000
SUB_QUANTITY = 400
ASSIGN_RANGE = (2_000, 3_000)
"""Assigns keep a top organization's quantity above anything it can be using."""


@dataclass(frozen=True)
class Sent:
    """A command on its way: what the generator needs back with its outcome."""

    command_id: str
    kind: str
    account_id: str
    payload: str
    key: Any = None


@dataclass(frozen=True)
class Tree:
    """The shape of every benchmark account: top organizations and their subs."""

    tops: int = 3
    subs: int = 2

    def organizations(self) -> list[tuple[str, str | None]]:
        """(organization_id, parent_id), parents first."""
        found: list[tuple[str, str | None]] = []
        for top in range(self.tops):
            found.append((f"o{top}", None))
            found.extend((f"o{top}.s{sub}", f"o{top}") for sub in range(self.subs))
        return found

    def levels(self) -> list[str | None]:
        return [None, *(org for org, _ in self.organizations())]

    def dedicated(self) -> list[tuple[str, int]]:
        """(organization_id, testops quantity) of the funded organizations."""
        found = []
        for top in range(self.tops):
            found.append((f"o{top}", TOP_QUANTITY))
            found.extend(
                (f"o{top}.s{sub}", SUB_QUANTITY) for sub in range(0, self.subs, 2)
            )
        return found


def command(command_id: str, kind: str, account_id: str, **fields: Any) -> Sent:
    actor = fields.pop("actor", SERVICE)
    body = {
        "command_id": command_id,
        "type": kind,
        "account_id": account_id,
        "actor": actor,
        **fields,
    }
    return Sent(command_id, kind, account_id, json.dumps(body))


def setup_commands(run: str, accounts: list[str], tree: Tree) -> Iterator[Sent]:
    """Open each account, buy both products, build its tree, fund the levels."""
    for account in accounts:
        ids = (f"{run}-setup-{account}-{n}" for n in range(10**9))
        yield command(next(ids), "open_account", account, admins=[ADMIN])
        for product in PRODUCTS:
            yield command(
                next(ids), "set_purchased", account, product=product, quantity=PURCHASED
            )
        for org, parent in tree.organizations():
            yield command(
                next(ids),
                "create_organization",
                account,
                organization_id=org,
                parent_id=parent,
                name=f"organization {org}",
            )
        for org, quantity in tree.dedicated():
            yield command(
                next(ids),
                "assign",
                account,
                organization_id=org,
                product=TESTOPS,
                quantity=quantity,
            )


def parse_mix(text: str) -> dict[str, float]:
    """``claim=45,release=45,assign=10`` as weights."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in ("claim", "release", "assign"):
            raise ValueError(f"unknown command in the mix: {name!r}")
        weights[name] = float(value)
    if sum(weights.values()) <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError("the mix needs non-negative weights that add up above 0")
    return weights


@dataclass
class Mix:
    """Claims, releases and assigns over many accounts and levels.

    It remembers which user holds which license (from the outcomes), so a claim
    goes to a user without one and a release to a user with one: nearly every
    command is accepted, as in a healthy production system. A user with a
    command in flight is left alone until its outcome arrives.
    """

    run: str
    accounts: list[str]
    tree: Tree
    users: int
    weights: dict[str, float]
    seed: int = 1
    held: set[Any] = field(default_factory=set)
    busy: set[Any] = field(default_factory=set)
    counter: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.levels = self.tree.levels()
        self.funded = [org for org, _ in self.tree.dedicated() if "." not in org]
        self.kinds = list(self.weights)
        self.cumulative = list(self.weights.values())

    def next(self) -> Sent:
        kind = self.rng.choices(self.kinds, self.cumulative)[0]
        for _ in range(50):
            sent = self._try(kind)
            if sent is not None:
                self.busy.add(sent.key)
                return sent
            kind = "claim" if kind == "release" else "release"
        # Every user seems busy (the workers are far behind): an assign needs
        # no user, and one more on the same organization changes nothing.
        sent = self._try("assign", tracked=False)
        assert sent is not None
        return sent

    def _try(self, kind: str, tracked: bool = True) -> Sent | None:
        rng = self.rng
        index = rng.randrange(len(self.accounts))
        account = self.accounts[index]
        self.counter += 1
        command_id = f"{self.run}-{self.counter}"
        if kind == "assign":
            org = rng.choice(self.funded)
            key: tuple[Any, ...] | None = ("assign", index, org)
            if not tracked:
                key = None
            elif key in self.busy:
                return None
            quantity = rng.randint(*ASSIGN_RANGE)
            sent = command(
                command_id,
                "assign",
                account,
                organization_id=org,
                product=TESTOPS,
                quantity=quantity,
            )
            return Sent(command_id, kind, account, sent.payload, key)
        product = rng.choice(PRODUCTS)
        user = rng.randrange(self.users)
        key = (index, product, user)
        if key in self.busy or (key in self.held) != (kind == "release"):
            return None
        user_id = f"u{user}"
        actor = {"kind": "user", "id": user_id}
        if kind == "claim":
            level = rng.choice(self.levels)
            sent = command(
                command_id,
                "claim",
                account,
                actor=actor,
                organization_id=level,
                product=product,
                user_id=user_id,
            )
        else:
            sent = command(
                command_id,
                "release",
                account,
                actor=actor,
                product=product,
                user_id=user_id,
            )
        return Sent(command_id, kind, account, sent.payload, key)

    def settled(self, sent: Sent, accepted: bool) -> None:
        """Take note of an outcome: who holds a license now."""
        self.busy.discard(sent.key)
        if not accepted or sent.kind == "assign":
            return
        if sent.kind == "claim":
            self.held.add(sent.key)
        else:
            self.held.discard(sent.key)
