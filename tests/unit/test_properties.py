"""Random sequences of commands against a naive reference model of the rules.

The reference keeps only the tree, the dedicated amounts and the claims, and
computes every figure by scanning them, as the spec words it. The real rules
keep counters. After every command both must agree: on the outcome (accepted,
or refused with the same reason), and on every figure of every level. Besides:
a refused command changes nothing; an accepted one has events if and only if
it changed something, its events show the new figures of every level whose
own figures changed, and ``account.changes`` names everything the store must
write.
"""

import copy
from dataclasses import dataclass, field
from typing import Any

from hypothesis import event as note_outcome
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from licensing.domain import Account, DomainEvent, Refused, handle
from licensing.domain.audit import violations
from licensing_contracts import Actor, Command, LevelFigures, Reason

from .builders import (
    BILLING,
    assign,
    claim,
    create,
    delete,
    grant_admin,
    move,
    open_account,
    release,
    revoke,
    revoke_admin,
    set_purchased,
    snapshot,
    user,
)

Level = str | None

PRODUCTS = ("testops", "studio")
ORGANIZATION_IDS = tuple(f"o{n}" for n in range(1, 9))
USERS = tuple(f"u{n}" for n in range(1, 7))
ROLE_HOLDERS = ("ada", "bob", "carol")
STRANGER = user("mallory")

products = st.sampled_from(PRODUCTS)
organization_ids = st.sampled_from(ORGANIZATION_IDS)
users = st.sampled_from(USERS)
role_holders = st.sampled_from(ROLE_HOLDERS)
# Small numbers, so that pools run out and refusals for lack of licenses happen.
quantities = st.integers(min_value=0, max_value=6)
totals = st.integers(min_value=0, max_value=12)
# Who sends a command: mostly someone allowed to, so that the rules get exercised.
senders = st.sampled_from(["service", "service", "admin", "admin", "stranger"])
claimers = st.sampled_from(["self", "self", "self", "service", "admin", "stranger"])

KIND_OF = {
    "open_account": "opened",
    "set_purchased": "purchased",
    "create_organization": "created",
    "move_organization": "moved",
    "delete_organization": "deleted",
    "assign": "assigned",
    "revoke": "revoked",
    "claim": "claimed",
    "release": "released",
    "grant_role": "granted",
    "revoke_role": "revoked",
}


@dataclass
class Reference:
    """The rules of domain.md, computed by scanning; slow and obvious."""

    max_depth: int
    admins: set[str]
    parents: dict[str, Level] = field(default_factory=dict)
    dedicated: dict[tuple[Level, str], int] = field(default_factory=dict)
    claims: dict[tuple[str, str], Level] = field(default_factory=dict)

    # The tree

    def path(self, level: Level) -> list[Level]:
        """The level, its parent, and so on up to the account (None)."""
        found = [level]
        while level is not None:
            level = self.parents[level]
            found.append(level)
        return found

    def depth(self, organization: str) -> int:
        return len(self.path(organization)) - 1

    def subtree(self, organization: str) -> list[str]:
        return [o for o in self.parents if organization in self.path(o)]

    def exists(self, level: Level) -> bool:
        return level is None or level in self.parents

    # The figures

    def own_dedicated(self, level: Level, product: str) -> int | None:
        if level is None:
            return self.dedicated.get((None, product), 0)
        return self.dedicated.get((level, product))

    def funding(self, level: Level, product: str) -> Level:
        for step in self.path(level):
            if self.own_dedicated(step, product) is not None:
                return step
        raise AssertionError("the account always funds itself")

    def handed(self, level: Level, product: str) -> int:
        """Dedicated licenses of funded levels beneath, drawn through level."""
        funding = self.funding(level, product)
        return sum(
            quantity
            for (org, p), quantity in self.dedicated.items()
            if p == product
            and org is not None
            and org != level
            and level in self.path(org)
            and self.funding(self.parents[org], product) == funding
        )

    def drawn(self, level: Level, product: str) -> int:
        """Claims at level or beneath it, charged through level."""
        funding = self.funding(level, product)
        return sum(
            1
            for (p, _), at in self.claims.items()
            if p == product
            and level in self.path(at)
            and self.funding(at, product) == funding
        )

    def in_use(self, level: Level, product: str) -> int:
        return self.handed(level, product) + self.drawn(level, product)

    def available(self, level: Level, product: str) -> int:
        funding = self.funding(level, product)
        dedicated = self.own_dedicated(funding, product)
        assert dedicated is not None
        return dedicated - self.in_use(funding, product)

    def figures(self, level: Level, product: str) -> LevelFigures:
        dedicated = self.own_dedicated(level, product)
        pool = None if dedicated is None else dedicated - self.handed(level, product)
        return LevelFigures(
            organization_id=level,
            dedicated=dedicated,
            pool=pool,
            assigned_users=self.drawn(level, product),
            available=self.available(level, product),
            funding_level=self.funding(level, product),
        )

    def sound(self) -> bool:
        return all(
            self.available(level, p) >= 0
            for level in [None, *self.parents]
            for p in PRODUCTS
        )

    # What the rules should answer

    def verdict(self, command: Command) -> Reason | None:
        """The reason the command must be refused for, or None if accepted."""
        if not self.authorized(command):
            return Reason.NOT_AUTHORIZED
        return getattr(self, f"_verdict_{command.type}")(command)

    def authorized(self, command: Command) -> bool:
        actor = command.actor
        if actor.kind == "service":
            return True
        if command.type in ("open_account", "set_purchased"):
            return False
        if command.type in ("claim", "release") and actor.id == command.user_id:
            return True
        return actor.id in self.admins

    def _verdict_open_account(self, command: Command) -> Reason | None:
        if set(command.admins) != self.admins:
            return Reason.ALREADY_EXISTS
        return None

    def _verdict_set_purchased(self, command: Command) -> Reason | None:
        if command.quantity < self.in_use(None, command.product):
            return Reason.BELOW_USAGE
        return None

    def _verdict_create_organization(self, command: Command) -> Reason | None:
        if command.organization_id in self.parents:
            return Reason.ALREADY_EXISTS
        if not self.exists(command.parent_id):
            return Reason.UNKNOWN_ORGANIZATION
        parent_depth = 0 if command.parent_id is None else self.depth(command.parent_id)
        if parent_depth + 1 > self.max_depth:
            return Reason.TOO_DEEP
        return None

    def _verdict_move_organization(self, command: Command) -> Reason | None:
        org, parent = command.organization_id, command.parent_id
        if org not in self.parents:
            return Reason.UNKNOWN_ORGANIZATION
        if parent == self.parents[org]:
            return None
        if not self.exists(parent):
            return Reason.UNKNOWN_ORGANIZATION
        if parent is not None and parent in self.subtree(org):
            return Reason.CYCLE
        new_depth = 1 if parent is None else self.depth(parent) + 1
        deepest = max(self.depth(o) for o in self.subtree(org))
        if deepest - self.depth(org) + new_depth > self.max_depth:
            return Reason.TOO_DEEP
        moved = copy.deepcopy(self)
        moved.parents[org] = parent
        if not moved.sound():
            return Reason.INSUFFICIENT_POOL
        return None

    def _verdict_delete_organization(self, command: Command) -> Reason | None:
        org = command.organization_id
        if org not in self.parents:
            return Reason.UNKNOWN_ORGANIZATION
        has_children = org in self.parents.values()
        if has_children or org in self.claims.values():
            return Reason.NOT_EMPTY
        return None

    def _verdict_assign(self, command: Command) -> Reason | None:
        org, product, quantity = (
            command.organization_id,
            command.product,
            command.quantity,
        )
        if org not in self.parents:
            return Reason.UNKNOWN_ORGANIZATION
        in_use = self.in_use(org, product)
        if quantity < in_use:
            return Reason.BELOW_USAGE
        current = self.own_dedicated(org, product)
        if quantity == current:
            return None
        increase = quantity - (in_use if current is None else current)
        if increase > self.available(self.parents[org], product):
            return Reason.INSUFFICIENT_POOL
        return None

    def _verdict_revoke(self, command: Command) -> Reason | None:
        if command.organization_id not in self.parents:
            return Reason.UNKNOWN_ORGANIZATION
        return None

    def _verdict_claim(self, command: Command) -> Reason | None:
        level, key = command.organization_id, (command.product, command.user_id)
        if not self.exists(level):
            return Reason.UNKNOWN_ORGANIZATION
        if key in self.claims:
            return None if self.claims[key] == level else Reason.ALREADY_CLAIMED
        if self.available(level, command.product) < 1:
            return Reason.NO_LICENSE_AVAILABLE
        return None

    def _verdict_release(self, command: Command) -> Reason | None:
        if (command.product, command.user_id) not in self.claims:
            return Reason.NOT_CLAIMED
        return None

    def _verdict_grant_role(self, command: Command) -> Reason | None:
        return None

    def _verdict_revoke_role(self, command: Command) -> Reason | None:
        if self.admins == {command.user_id}:
            return Reason.LAST_ADMIN
        return None

    # Applying an accepted command

    def apply(self, command: Command) -> None:
        match command.type:
            case "set_purchased":
                self.dedicated[(None, command.product)] = command.quantity
            case "create_organization" | "move_organization":
                self.parents[command.organization_id] = command.parent_id
            case "delete_organization":
                del self.parents[command.organization_id]
                for key in [
                    k for k in self.dedicated if k[0] == command.organization_id
                ]:
                    del self.dedicated[key]
            case "assign":
                key = (command.organization_id, command.product)
                self.dedicated[key] = command.quantity
            case "revoke":
                self.dedicated.pop((command.organization_id, command.product), None)
            case "claim":
                key = (command.product, command.user_id)
                self.claims[key] = command.organization_id
            case "release":
                del self.claims[(command.product, command.user_id)]
            case "grant_role":
                self.admins.add(command.user_id)
            case "revoke_role":
                self.admins.discard(command.user_id)


def stored_state(account: Account) -> dict[str, dict[Any, Any]]:
    """What the store keeps of an account, without empty allocations."""
    empty = {None: (0, 0, 0)}
    return {
        "allocations": {
            key: values
            for key, a in account.allocations.items()
            if (values := (a.dedicated, a.handed, a.drawn))
            != empty.get(key[0], (None, 0, 0))
        },
        "organizations": {
            org.id: (org.parent_id, org.name, org.depth, org.children)
            for org in account.organizations.values()
            if org is not None
        },
        "claims": dict(account.claims),
        "admins": dict.fromkeys(account.admins, True),
    }


def differences(before: dict[Any, Any], after: dict[Any, Any]) -> set[Any]:
    return {
        key for key in before.keys() | after.keys() if before.get(key) != after.get(key)
    }


def changed_levels(
    before: dict[str, Any], after: dict[str, Any]
) -> set[tuple[Level, str]]:
    """Levels still there whose own figures (not only available) changed."""

    def own(figures: LevelFigures) -> tuple[int | None, int | None, int]:
        return figures.dedicated, figures.pool, figures.assigned_users

    return {
        key
        for key, figures in after["figures"].items()
        if key in before["figures"] and own(before["figures"][key]) != own(figures)
    }


class LicensingMachine(RuleBasedStateMachine):
    """One account driven by random commands, checked against the reference."""

    # Every organization ever created; deleted ones stay in, then unknown.
    organizations = Bundle("organizations")
    levels = st.none() | organizations

    @initialize(
        target=organizations,
        max_depth=st.integers(min_value=2, max_value=3),
        purchased=st.tuples(totals, totals),
        tree=st.lists(
            st.tuples(st.integers(0, 6), st.none() | quantities, products),
            max_size=6,
        ),
    )
    def open_the_account(
        self,
        max_depth: int,
        purchased: tuple[int, int],
        tree: list[tuple[int, int | None, str]],
    ) -> Any:
        """An account with a first tree: (parent pick, dedicated, product) each."""
        self.account, _ = handle(None, open_account("ada"), max_depth=max_depth)
        self.reference = Reference(max_depth=max_depth, admins={"ada"})
        self.seen = snapshot(self.account, PRODUCTS)
        for product, quantity in zip(PRODUCTS, purchased, strict=True):
            self.send(set_purchased(quantity, product))
        created: list[str] = []
        for org, (pick, dedicated, product) in zip(
            ORGANIZATION_IDS, tree, strict=False
        ):
            parent = created[pick] if pick < len(created) else None
            if self.send(create(org, under=parent)):
                created.append(org)
            if dedicated is not None:
                self.send(assign(org, dedicated, product))
        return multiple(*created)

    # Sending commands

    def sender(self, who: str, user_id: str | None = None) -> Actor:
        if who == "service":
            return BILLING
        if who == "admin":
            return user(sorted(self.reference.admins)[0])
        if who == "self" and user_id is not None:
            return user(user_id)
        return STRANGER

    def send(self, command: Command) -> bool:
        """Apply the command; whether accepted, it must match the reference."""
        expected = self.reference.verdict(command)
        note_outcome(f"{command.type}: {expected or 'accepted'}")
        before = self.seen
        stored = stored_state(self.account)
        self.account.changes.clear()
        outcome: Reason | None = None
        try:
            _, events = handle(self.account, command)
        except Refused as refused:
            outcome, message = refused.reason, refused.message
        assert outcome == expected, (
            f"{command.type}: {outcome or 'accepted'}, "
            f"the reference expected {expected or 'acceptance'}"
            + (f" ({message})" if outcome else "")
        )
        after = self.seen = snapshot(self.account, PRODUCTS)
        if outcome is not None:
            assert after == before, f"the refused {command.type} changed the account"
            return False
        self.reference.apply(command)
        self.check_events(command, events, before, after)
        self.check_changes_for_the_store(command, stored)
        return True

    def check_changes_for_the_store(
        self, command: Command, stored: dict[str, dict[Any, Any]]
    ) -> None:
        """The store writes only what the rules say they changed."""
        now, changes = stored_state(self.account), self.account.changes
        unrecorded = {
            "allocations": differences(stored["allocations"], now["allocations"])
            - changes.allocations,
            "organizations": differences(stored["organizations"], now["organizations"])
            - changes.organizations,
            "claims": differences(stored["claims"], now["claims"]) - changes.claims,
            "admins": set()
            if changes.admins
            else differences(stored["admins"], now["admins"]),
        }
        assert not any(unrecorded.values()), f"{command.type} left out {unrecorded}"

    def check_events(
        self,
        command: Command,
        events: list[DomainEvent],
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> None:
        assert bool(events) == (before != after), "events if and only if a change"
        shown: set[tuple[Level, str | None]] = set()
        for each in events:
            assert each.change["kind"] == KIND_OF[command.type]
            for figures in each.levels:
                level = figures.organization_id
                assert each.product is not None
                assert figures == self.account.figures(level, each.product)
                shown.add((level, each.product))
        missing = changed_levels(before, after) - shown
        assert not missing, f"{command.type}: its events do not list {missing}"

    # The commands

    @rule(target=organizations, org=organization_ids, who=senders)
    def create_organization(self, org: str, who: str) -> Any:
        if self.send(create(org, by=self.sender(who))):
            return org
        return multiple()

    @rule(target=organizations, org=organization_ids, parent=organizations, who=senders)
    def create_sub_organization(self, org: str, parent: str, who: str) -> Any:
        if self.send(create(org, under=parent, by=self.sender(who))):
            return org
        return multiple()

    @rule(org=organizations, parent=levels, who=senders)
    def move_organization(self, org: str, parent: Level, who: str) -> None:
        self.send(move(org, under=parent, by=self.sender(who)))

    @precondition(lambda self: len(self.reference.parents) >= 2)
    @rule(data=st.data(), who=senders)
    def move_where_it_may_not_fit(self, data: st.DataObject, who: str) -> None:
        """A subtree that is deep or uses licenses, under a deep level or one
        with few available: the moves refused for depth or for licenses."""
        reference = self.reference

        def weight(org: str) -> tuple[int, int]:
            used = sum(reference.in_use(o, p) for o in [org] for p in PRODUCTS)
            height = max(reference.depth(o) for o in reference.subtree(org))
            return -(used + height - reference.depth(org)), -reference.depth(org)

        def room(org: str) -> tuple[int, int]:
            available = min(reference.available(org, p) for p in PRODUCTS)
            return available, -reference.depth(org)

        org = data.draw(st.sampled_from(sorted(reference.parents, key=weight)))
        parent = data.draw(st.sampled_from(sorted(reference.parents, key=room)))
        self.send(move(org, under=parent, by=self.sender(who)))

    @rule(org=organizations, who=senders)
    def delete_organization(self, org: str, who: str) -> None:
        self.send(delete(org, by=self.sender(who)))

    @rule(org=organizations, product=products, quantity=quantities, who=senders)
    def assign(self, org: str, product: str, quantity: int, who: str) -> None:
        self.send(assign(org, quantity, product, by=self.sender(who)))

    @rule(org=organizations, product=products, delta=st.integers(-2, 2), who=senders)
    def assign_near_what_is_used(
        self, org: str, product: str, delta: int, who: str
    ) -> None:
        """Quantities around the boundary of below_usage."""
        known = org in self.reference.parents
        in_use = self.reference.in_use(org, product) if known else 0
        self.send(assign(org, max(0, in_use + delta), product, by=self.sender(who)))

    @rule(org=organizations, product=products, who=senders)
    def revoke(self, org: str, product: str, who: str) -> None:
        self.send(revoke(org, product, by=self.sender(who)))

    @rule(product=products, quantity=totals, who=senders)
    def set_purchased(self, product: str, quantity: int, who: str) -> None:
        self.send(set_purchased(quantity, product, by=self.sender(who)))

    @rule(user_id=users, level=levels, product=products, who=claimers)
    def claim(self, user_id: str, level: Level, product: str, who: str) -> None:
        self.send(claim(user_id, level, product, by=self.sender(who, user_id)))

    @rule(user_id=users, product=products, who=claimers)
    def release(self, user_id: str, product: str, who: str) -> None:
        self.send(release(user_id, product, by=self.sender(who, user_id)))

    @rule(
        change=st.sampled_from(["grant", "revoke", "open again"]),
        user_id=role_holders,
        who=senders,
    )
    def change_roles(self, change: str, user_id: str, who: str) -> None:
        by = self.sender(who)
        if change == "grant":
            self.send(grant_admin(user_id, by=by))
        elif change == "revoke":
            self.send(revoke_admin(user_id, by=by))
        else:
            self.send(open_account(*sorted({user_id, *self.reference.admins}), by=by))

    # What always holds

    @invariant()
    def every_counter_equals_a_recomputation_and_no_pool_is_overdrawn(self) -> None:
        assert violations(self.account) == []

    @invariant()
    def every_figure_equals_the_reference(self) -> None:
        # self.seen holds the account's figures as read after the last command.
        expected = {
            (level, product): self.reference.figures(level, product)
            for level in [None, *self.reference.parents]
            for product in PRODUCTS
        }
        assert self.seen["figures"] == expected

    @invariant()
    def the_tree_the_claims_and_the_admins_equal_the_reference(self) -> None:
        tree = {
            org.id: org.parent_id
            for org in self.account.organizations.values()
            if org is not None
        }
        assert tree == self.reference.parents
        assert self.account.claims == self.reference.claims
        assert self.account.admins == self.reference.admins
        for org in self.reference.parents:
            assert self.account.organization(org).depth == self.reference.depth(org)


TestLicensingRules = LicensingMachine.TestCase
TestLicensingRules.settings = settings(deadline=None)
