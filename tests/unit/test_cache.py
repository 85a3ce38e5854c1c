"""The account cache's bound: least recently used accounts go first, and an
account too large to share the room is not kept at all."""

from licensing.adapters.cache import AccountCache, Cached
from licensing.domain import Account


def entry(account_id: str, claims: int) -> Cached:
    return Cached(Account(account_id), {("testops", f"u{n}") for n in range(claims)})


def test_the_least_recently_used_account_goes_first():
    cache = AccountCache(capacity=30)
    for name in ("a", "b", "c"):
        cache.put(entry(name, 9))  # 10 each with the account itself
    assert cache.get("a") is not None  # now the most recently used

    cache.put(entry("d", 9))

    assert list(cache.entries) == ["c", "a", "d"]
    assert cache.size == 30


def test_an_account_grown_in_place_is_counted_as_it_was_when_put():
    cache = AccountCache(capacity=100)
    cached = entry("a", 9)
    cache.put(cached)
    cached.claims.update(("studio", f"u{n}") for n in range(20))

    cache.pop("a")

    assert cache.size == 0
    assert len(cache) == 0


def test_an_account_larger_than_half_the_room_is_not_kept():
    cache = AccountCache(capacity=100)
    cache.put(entry("small", 9))

    cache.put(entry("huge", 60))

    assert list(cache.entries) == ["small"]


def test_no_room_keeps_nothing():
    cache = AccountCache(capacity=0)

    cache.put(entry("a", 0))

    assert len(cache) == 0
