"""Accounts kept in memory between batches, so that a batch reads only what it
has not seen yet.

An entry is an account as this worker's last committed batch left it, with the
claim keys whose state (a claim, or none) it knows. It is used only after the
batch's read finds the account's row at the same ``sequence``: every change an
account goes through raises its sequence (each event takes the next number),
so a worker that took the partition over meanwhile, or a rolled-back batch,
shows up as a different sequence and the account is read afresh.

Only claims, releases and assignments keep an account cached: a batch with any
other command of the account (those that reshape its tree or its admins) reads
the account whole and drops it from the cache.
"""

from collections import OrderedDict
from dataclasses import dataclass, field

from ..domain import Account

ClaimKey = tuple[str, str]
"""(product, user_id)"""


@dataclass
class Cached:
    account: Account
    claims: set[ClaimKey] = field(default_factory=set)
    """Claim keys read or written: absent from ``account.claims`` means no claim."""
    counted: int = 0
    """The size it was counted at when cached (the account changes in place)."""

    @property
    def size(self) -> int:
        account = self.account
        return (
            1 + len(self.claims) + len(account.organizations) + len(account.allocations)
        )


class AccountCache:
    """Least recently used accounts, up to ``capacity`` claims, levels and
    allocations in all; 0 keeps nothing."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[str, Cached] = OrderedDict()
        self.size = 0

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, account_id: str) -> Cached | None:
        entry = self.entries.get(account_id)
        if entry is not None:
            self.entries.move_to_end(account_id)
        return entry

    def pop(self, account_id: str) -> None:
        entry = self.entries.pop(account_id, None)
        if entry is not None:
            self.size -= entry.counted

    def put(self, entry: Cached) -> None:
        self.pop(entry.account.id)
        entry.counted = entry.size
        if entry.counted > self.capacity // 2:  # would push out nearly all else
            return
        self.entries[entry.account.id] = entry
        self.size += entry.counted
        while self.size > self.capacity:
            _, oldest = self.entries.popitem(last=False)
            self.size -= oldest.counted

    def clear(self) -> None:
        self.entries.clear()
        self.size = 0
