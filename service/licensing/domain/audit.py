"""Recompute every counter of a fully loaded account from first principles.

The rules keep counters up to date change by change; this recomputes them from
the tree, the dedicated amounts and the claims alone, so that tests (and an
operator's check) can compare the two.
"""

from collections import defaultdict

from .model import Account, Level


def recompute(account: Account) -> dict[tuple[Level, str], tuple[int | None, int, int]]:
    """(level, product) -> (dedicated, handed, drawn), for every level and product."""
    children: dict[Level, list[str]] = defaultdict(list)
    for org in account.organizations.values():
        if org is not None:
            children[org.parent_id].append(org.id)
    products = {p for (_, p) in account.allocations} | {p for (p, _) in account.claims}
    claims_at: dict[tuple[Level, str], int] = defaultdict(int)
    for (product, _user), level in account.claims.items():
        claims_at[(level, product)] += 1

    result: dict[tuple[Level, str], tuple[int | None, int, int]] = {}

    def visit(level: Level, product: str) -> tuple[int, int]:
        """This level's contribution to its parent's (handed, drawn)."""
        handed, drawn = 0, claims_at[(level, product)]
        for child in children[level]:
            child_handed, child_drawn = visit(child, product)
            handed += child_handed
            drawn += child_drawn
        found = account.allocations.get((level, product))
        dedicated = found.dedicated if found else (0 if level is None else None)
        result[(level, product)] = (dedicated, handed, drawn)
        if dedicated is not None:
            return dedicated, 0
        return handed, drawn

    for product in products:
        visit(None, product)
    return result


def violations(account: Account) -> list[str]:
    """Every way the account's counters differ from a recomputation, or break the
    invariant (a funded level with negative available)."""
    found = []
    for (level, product), (dedicated, handed, drawn) in recompute(account).items():
        kept = account.allocations.get((level, product))
        kept_values = (
            (kept.dedicated, kept.handed, kept.drawn)
            if kept
            else (0 if level is None else None, 0, 0)
        )
        if kept_values != (dedicated, handed, drawn):
            found.append(
                f"{level}/{product}: kept {kept_values}, "
                f"recomputed {(dedicated, handed, drawn)}"
            )
        if dedicated is not None and dedicated - handed - drawn < 0:
            found.append(f"{level}/{product}: available {dedicated - handed - drawn}")
    return found
