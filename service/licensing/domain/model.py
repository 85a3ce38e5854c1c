"""The licensing rules of one account, in plain Python.

An ``Account`` holds what the rules need: its admins, organizations, and for
each level and product an ``Allocation`` of three counters. The store may load
only the part of an account that a batch of commands touches (the levels on
the paths involved, the claims of the users named); the rules never scan.

Counters, for level L and product p:

- ``dedicated``: licenses given to L; ``None`` makes L a sharing level. The
  account's is its purchased total.
- ``handed``: dedicated licenses of the levels funded through L: each child
  that has dedicated licenses adds those, each sharing child adds its own
  ``handed``.
- ``drawn``: claims charged through L: claims made at L, plus each sharing
  child's ``drawn``.

So a funded level's pool is ``dedicated - handed``, its assigned users are
``drawn`` and its available is ``dedicated - handed - drawn``, which must
never go below zero.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from licensing_contracts import LevelFigures

from . import refusals

Level = str | None
"""An organization id, or None for the account level."""

DEFAULT_MAX_DEPTH = 8


@dataclass
class Allocation:
    """The counters of one level for one product."""

    dedicated: int | None = None
    handed: int = 0
    drawn: int = 0

    @property
    def funded(self) -> bool:
        return self.dedicated is not None

    @property
    def in_use(self) -> int:
        return self.handed + self.drawn

    @property
    def contribution(self) -> tuple[int, int]:
        """What this level adds to its parent's (handed, drawn)."""
        if self.dedicated is not None:
            return self.dedicated, 0
        return self.handed, self.drawn

    @property
    def empty(self) -> bool:
        return self.dedicated is None and self.handed == 0 and self.drawn == 0


@dataclass
class Organization:
    id: str
    parent_id: str | None
    name: str
    depth: int
    children: int = 0


@dataclass
class DomainEvent:
    """A change the rules made, before it gets its id and sequence."""

    type: str
    change: dict[str, Any]
    product: str | None = None
    levels: list[LevelFigures] = field(default_factory=list)


@dataclass
class Changes:
    """What a command changed, for the store to write."""

    allocations: set[tuple[Level, str]] = field(default_factory=set)
    organizations: set[str] = field(default_factory=set)
    claims: set[tuple[str, str]] = field(default_factory=set)
    admins: bool = False
    opened: bool = False

    def clear(self) -> None:
        self.allocations.clear()
        self.organizations.clear()
        self.claims.clear()
        self.admins = self.opened = False


class Account:
    """One customer's tree of levels and their licenses."""

    def __init__(
        self,
        account_id: str,
        admins: set[str] | None = None,
        *,
        sequence: int = 0,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        self.id = account_id
        self.admins: set[str] = set(admins or ())
        self.sequence = sequence
        self.max_depth = max_depth
        # What the store loaded: a None organization was looked for and is
        # absent; a (product, user) missing from claims holds no license.
        self.organizations: dict[str, Organization | None] = {}
        self.allocations: dict[tuple[Level, str], Allocation] = {}
        self.claims: dict[tuple[str, str], Level] = {}
        self.changes = Changes()

    # Reading

    def organization(self, organization_id: str) -> Organization:
        org = self.organizations.get(organization_id)
        if org is None:
            raise refusals.UnknownOrganization(organization_id)
        return org

    def exists(self, level: Level) -> bool:
        return level is None or self.organizations.get(level) is not None

    def parent_of(self, level: Level) -> Level:
        if level is None:
            raise ValueError("the account level has no parent")
        return self.organization(level).parent_id

    def allocation(self, level: Level, product: str) -> Allocation:
        key = (level, product)
        found = self.allocations.get(key)
        if found is None:
            found = Allocation(dedicated=0 if level is None else None)
            self.allocations[key] = found
        return found

    def path(self, level: Level) -> Iterator[Level]:
        """The level, its parent, and so on up to the account."""
        while level is not None:
            yield level
            level = self.parent_of(level)
        yield None

    def chain(self, level: Level, product: str) -> Iterator[Level]:
        """The level and its ancestors up to and including its funding level."""
        return iter(self._chain(level, product))

    def _chain(self, level: Level, product: str) -> list[Level]:
        """``chain`` as a list, walked at once: the same steps, the same reads."""
        steps = [level]
        allocations = self.allocations
        while True:
            found = allocations.get((level, product))
            if found is None:
                found = self.allocation(level, product)
            if found.dedicated is not None or level is None:
                return steps
            level = self.organization(level).parent_id
            steps.append(level)

    def funding_level(self, level: Level, product: str) -> Level:
        return self._chain(level, product)[-1]

    def available(self, level: Level, product: str) -> int:
        return self._available(self._chain(level, product)[-1], product)

    def _available(self, funding_level: Level, product: str) -> int:
        funding = self.allocations[(funding_level, product)]
        assert funding.dedicated is not None
        return funding.dedicated - funding.handed - funding.drawn

    def figures(self, level: Level, product: str) -> LevelFigures:
        self.allocation(level, product)
        funding_level = self._chain(level, product)[-1]
        return self._figures(level, product, funding_level)

    def _figures(
        self, level: Level, product: str, funding_level: Level
    ) -> LevelFigures:
        """The figures of a level whose chain was walked and ends at funding_level."""
        own = self.allocations[(level, product)]
        pool = None if own.dedicated is None else own.dedicated - own.handed
        return LevelFigures(
            organization_id=level,
            dedicated=own.dedicated,
            pool=pool,
            assigned_users=own.drawn,
            available=self._available(funding_level, product),
            funding_level=funding_level,
        )

    def subtree(self, organization_id: str) -> list[Organization]:
        """The organization and everything beneath it, among what is loaded."""
        found = [self.organization(organization_id)]
        beneath = {organization_id}
        grew = True
        while grew:
            grew = False
            for org in self.organizations.values():
                if org and org.id not in beneath and org.parent_id in beneath:
                    found.append(org)
                    beneath.add(org.id)
                    grew = True
        return found

    def products_at(self, level: Level) -> list[str]:
        return sorted(p for (lv, p), a in self.allocations.items() if lv == level)

    # Changing the counters

    def _touch(self, level: Level, product: str) -> Allocation:
        self.changes.allocations.add((level, product))
        return self.allocation(level, product)

    def _propagate(self, start: Level, product: str, handed: int, drawn: int) -> None:
        """Add to the counters of start and its ancestors up to its funding level."""
        self._add(self._chain(start, product), product, handed, drawn)

    def _add(self, steps: list[Level], product: str, handed: int, drawn: int) -> None:
        """Add to the counters of a chain's steps (their allocations exist)."""
        touched = self.changes.allocations
        allocations = self.allocations
        for step in steps:
            key = (step, product)
            touched.add(key)
            allocation = allocations[key]
            allocation.handed += handed
            allocation.drawn += drawn

    def _detach(self, organization_id: str, product: str) -> tuple[int, int]:
        contribution = self.allocation(organization_id, product).contribution
        parent = self.parent_of(organization_id)
        self._propagate(parent, product, -contribution[0], -contribution[1])
        return contribution

    def _attach(self, organization_id: str, product: str) -> None:
        handed, drawn = self.allocation(organization_id, product).contribution
        self._propagate(self.parent_of(organization_id), product, handed, drawn)

    def _levels(self, product: str, *starts: Level) -> list[LevelFigures]:
        return self._listed(product, [self._chain(start, product) for start in starts])

    def _listed(self, product: str, chains: list[list[Level]]) -> list[LevelFigures]:
        """The figures of every level of the chains, each once, in chain order."""
        seen: list[Level] = []
        found: list[LevelFigures] = []
        for steps in chains:
            # Every step of a chain is funded through the chain's last level.
            funding_level = steps[-1]
            for step in steps:
                if step not in seen:
                    seen.append(step)
                    found.append(self._figures(step, product, funding_level))
        return found

    # Commands

    def open(self, admins: list[str]) -> list[DomainEvent]:
        self.admins = set(admins)
        self.changes.admins = self.changes.opened = True
        return [DomainEvent("account.opened", {"kind": "opened", "admins": admins})]

    def set_purchased(self, product: str, quantity: int) -> list[DomainEvent]:
        account = self.allocation(None, product)
        if quantity < account.in_use:
            raise refusals.BelowUsage(None, product, quantity, account.in_use)
        previous = account.dedicated
        if quantity == previous:
            return []
        self._touch(None, product).dedicated = quantity
        change = {"kind": "purchased", "quantity": quantity, "previous": previous}
        levels = self._levels(product, None)
        return [DomainEvent("license.changed", change, product, levels)]

    def create_organization(
        self, organization_id: str, parent_id: str | None, name: str
    ) -> list[DomainEvent]:
        if self.organizations.get(organization_id) is not None:
            raise refusals.AlreadyExists(
                f"organization {organization_id} already exists",
                organization_id=organization_id,
            )
        depth = 1 if parent_id is None else self.organization(parent_id).depth + 1
        if depth > self.max_depth:
            raise refusals.TooDeep(organization_id, depth, self.max_depth)
        if parent_id is not None:
            self.organization(parent_id).children += 1
            self.changes.organizations.add(parent_id)
        self.organizations[organization_id] = Organization(
            organization_id, parent_id, name, depth
        )
        self.changes.organizations.add(organization_id)
        change = {
            "kind": "created",
            "organization_id": organization_id,
            "parent_id": parent_id,
            "name": name,
        }
        return [DomainEvent("organization.changed", change)]

    def move_organization(
        self, organization_id: str, parent_id: str | None
    ) -> list[DomainEvent]:
        org = self.organization(organization_id)
        if parent_id == org.parent_id:
            if parent_id is not None:
                self.organization(parent_id)
            return []
        new_depth = 1
        if parent_id is not None:
            if organization_id in self.path(parent_id):
                raise refusals.Cycle(organization_id, parent_id)
            new_depth = self.organization(parent_id).depth + 1
        subtree = self.subtree(organization_id)
        deepest = max(o.depth for o in subtree) - org.depth + new_depth
        if deepest > self.max_depth:
            raise refusals.TooDeep(organization_id, deepest, self.max_depth)

        products = self.products_at(organization_id)
        previous_parent = org.parent_id
        for product in products:
            self._detach(organization_id, product)
        self._reparent(org, parent_id)
        shortfall = self._first_shortfall(organization_id, products)
        if shortfall is not None:
            self._reparent(org, previous_parent)
            for product in products:
                self._attach(organization_id, product)
            raise shortfall
        for product in products:
            self._attach(organization_id, product)

        shift = new_depth - org.depth
        for moved in subtree:
            moved.depth += shift
            self.changes.organizations.add(moved.id)
        change = {
            "kind": "moved",
            "organization_id": organization_id,
            "parent_id": parent_id,
            "previous_parent_id": previous_parent,
        }
        events = [DomainEvent("organization.changed", change)]
        for product in products:
            if self.allocation(organization_id, product).empty:
                continue
            levels = self._levels(product, organization_id, parent_id, previous_parent)
            events.append(DomainEvent("license.changed", change, product, levels))
        return events

    def _reparent(self, org: Organization, parent_id: str | None) -> None:
        if org.parent_id is not None:
            self.organization(org.parent_id).children -= 1
            self.changes.organizations.add(org.parent_id)
        if parent_id is not None:
            self.organization(parent_id).children += 1
            self.changes.organizations.add(parent_id)
        org.parent_id = parent_id
        self.changes.organizations.add(org.id)

    def _first_shortfall(
        self, organization_id: str, products: list[str]
    ) -> refusals.Refused | None:
        """The refusal if the new parent's funding level cannot take what moves."""
        parent = self.parent_of(organization_id)
        for product in products:
            handed, drawn = self.allocation(organization_id, product).contribution
            funding = self.funding_level(parent, product)
            available = self.available(parent, product)
            if handed + drawn > available:
                pool = self.figures(funding, product).pool or 0
                return refusals.InsufficientPool(
                    funding, product, pool, available, handed + drawn
                )
        return None

    def delete_organization(self, organization_id: str) -> list[DomainEvent]:
        org = self.organization(organization_id)
        products = self.products_at(organization_id)
        claims = sum(self.allocation(organization_id, p).drawn for p in products)
        if org.children or claims:
            raise refusals.NotEmpty(organization_id, org.children, claims)

        change = {
            "kind": "deleted",
            "organization_id": organization_id,
            "parent_id": org.parent_id,
        }
        events = [DomainEvent("organization.changed", change)]
        for product in products:
            returned, _ = self._detach(organization_id, product)
            self._touch(organization_id, product)
            del self.allocations[(organization_id, product)]
            if returned:
                levels = self._levels(product, org.parent_id)
                events.append(DomainEvent("license.changed", change, product, levels))
        if org.parent_id is not None:
            self.organization(org.parent_id).children -= 1
            self.changes.organizations.add(org.parent_id)
        self.organizations[organization_id] = None
        self.changes.organizations.add(organization_id)
        return events

    def assign(
        self, organization_id: str, product: str, quantity: int
    ) -> list[DomainEvent]:
        org = self.organization(organization_id)
        own = self.allocation(organization_id, product)
        if quantity < own.in_use:
            raise refusals.BelowUsage(organization_id, product, quantity, own.in_use)
        previous = own.dedicated
        if quantity == previous:
            return []
        handed, drawn = own.contribution
        increase = quantity - handed - drawn
        available = self.available(org.parent_id, product)
        if increase > available:
            funding = self.funding_level(org.parent_id, product)
            pool = self.figures(funding, product).pool or 0
            raise refusals.InsufficientPool(funding, product, pool, available, increase)

        self._detach(organization_id, product)
        self._touch(organization_id, product).dedicated = quantity
        self._attach(organization_id, product)
        change = {
            "kind": "assigned",
            "organization_id": organization_id,
            "quantity": quantity,
            "previous": previous,
        }
        levels = self._levels(product, organization_id, org.parent_id)
        return [DomainEvent("license.changed", change, product, levels)]

    def revoke(self, organization_id: str, product: str) -> list[DomainEvent]:
        org = self.organization(organization_id)
        own = self.allocation(organization_id, product)
        if own.dedicated is None:
            return []
        previous = own.dedicated
        self._detach(organization_id, product)
        self._touch(organization_id, product).dedicated = None
        self._attach(organization_id, product)
        change = {
            "kind": "revoked",
            "organization_id": organization_id,
            "previous": previous,
        }
        levels = self._levels(product, organization_id, org.parent_id)
        return [DomainEvent("license.changed", change, product, levels)]

    def claim(self, level: Level, product: str, user_id: str) -> list[DomainEvent]:
        if level is not None:
            self.organization(level)
        key = (product, user_id)
        if key in self.claims:
            if self.claims[key] == level:
                return []
            raise refusals.AlreadyClaimed(user_id, product, self.claims[key])
        # Claims never change which levels are funded: one walk serves it all.
        steps = self._chain(level, product)
        if self._available(steps[-1], product) < 1:
            funding = self.figures(steps[-1], product)
            raise refusals.NoLicenseAvailable(
                funding.organization_id,
                product,
                funding.pool or 0,
                funding.assigned_users,
            )
        self.claims[key] = level
        self.changes.claims.add(key)
        self._add(steps, product, 0, 1)
        change = {"kind": "claimed", "organization_id": level, "user_id": user_id}
        levels = self._listed(product, [steps])
        return [DomainEvent("license.changed", change, product, levels)]

    def release(self, product: str, user_id: str) -> list[DomainEvent]:
        key = (product, user_id)
        if key not in self.claims:
            raise refusals.NotClaimed(user_id, product)
        level = self.claims.pop(key)
        self.changes.claims.add(key)
        steps = self._chain(level, product)
        self._add(steps, product, 0, -1)
        change = {"kind": "released", "organization_id": level, "user_id": user_id}
        levels = self._listed(product, [steps])
        return [DomainEvent("license.changed", change, product, levels)]

    def grant_admin(self, user_id: str) -> list[DomainEvent]:
        if user_id in self.admins:
            return []
        self.admins.add(user_id)
        self.changes.admins = True
        change = {"kind": "granted", "user_id": user_id, "role": "account_admin"}
        return [DomainEvent("role.changed", change)]

    def revoke_admin(self, user_id: str) -> list[DomainEvent]:
        if user_id not in self.admins:
            return []
        if self.admins == {user_id}:
            raise refusals.LastAdmin(user_id)
        self.admins.discard(user_id)
        self.changes.admins = True
        change = {"kind": "revoked", "user_id": user_id, "role": "account_admin"}
        return [DomainEvent("role.changed", change)]
