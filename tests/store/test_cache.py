"""The account cache (PostgreSQL): a batch takes from memory what the last
committed batch of this worker left, and reads afresh whatever changed under it:
another owner's batches, a batch that rolled back, a reshaped tree."""

from collections.abc import AsyncIterator

import pytest

from licensing.adapters.database import create_engine
from licensing.adapters.store import Batch, Store
from licensing.domain.audit import violations

from .documents import Commands
from .helpers import Partition, StatementLog, figures, statuses, stored

ACME = Commands("acme")
TWIN = Commands("twin")


@pytest.fixture
async def stores(postgres_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two workers' stores on one database, each with its own cache."""
    pair = (
        Store(create_engine(postgres_url), cache_size=10_000),
        Store(create_engine(postgres_url), cache_size=10_000),
    )
    yield pair
    for store in pair:
        await store.close()


async def owner(store: Store, name: str) -> Partition:
    """Take partition 0 for a worker (every account here is on it)."""
    return Partition(store, 0, await store.take_partition(0, name))


def opened(account: Commands) -> list[dict[str, object]]:
    """An account of 3 licenses with 2 dedicated to sales."""
    return [
        account.open_account(),
        account.set_purchased(3),
        account.create("sales"),
        account.assign("sales", 2),
    ]


async def test_a_known_account_reads_only_what_it_has_not_seen(stores, postgres_url):
    cached, _ = stores
    uncached = Store(create_engine(postgres_url), cache_size=0)
    try:
        worker = await owner(cached, "cached")
        other = Partition(uncached, 0, worker.epoch)
        for partition, account in ((worker, ACME), (other, TWIN)):
            await partition.apply(*opened(account))
            await partition.apply(account.claim("dana", at="sales"))

        with StatementLog(cached) as from_memory:
            known = await worker.apply(ACME.release("dana"))
        with StatementLog(uncached) as from_database:
            read = await other.apply(TWIN.release("dana"))

        assert statuses(known) == statuses(read) == ["accepted"]
        assert from_memory.rows < from_database.rows
        assert figures(await stored(cached), "sales") == (2, 2, 0, 2)
    finally:
        await uncached.close()


async def test_a_batch_of_another_owner_is_seen_by_the_next_one(stores):
    first, second = stores
    worker = await owner(first, "first")
    await worker.apply(*opened(ACME))
    await worker.apply(ACME.claim("dana", at="sales"))
    assert "acme" in first.cache.entries

    peer = await owner(second, "second")
    assert statuses(await peer.apply(ACME.claim("eve", at="sales"))) == ["accepted"]

    back = await owner(first, "first")
    outcomes = await back.apply(ACME.claim("frank", at="sales"), ACME.release("eve"))

    assert statuses(outcomes) == ["no_license_available", "accepted"]
    account = await stored(first)
    assert figures(account, "sales") == (2, 2, 1, 1)
    assert violations(account) == []


async def test_a_batch_that_rolls_back_leaves_nothing_in_memory(stores, monkeypatch):
    store, _ = stores
    worker = await owner(store, "worker")
    await worker.apply(*opened(ACME))
    await worker.apply(ACME.claim("dana", at="sales"))
    assert "acme" in store.cache.entries

    async def lost_connection(*_: object, **__: object) -> None:
        raise ConnectionResetError("the database went away mid-batch")

    with monkeypatch.context() as patched:
        patched.setattr(Batch, "record", lost_connection)
        with pytest.raises(ConnectionResetError):
            await worker.apply(ACME.claim("eve", at="sales"))

    outcomes = await worker.apply(ACME.release("eve"), ACME.claim("eve", at="sales"))

    assert statuses(outcomes) == ["not_claimed", "accepted"]
    assert figures(await stored(store), "sales") == (2, 2, 2, 0)


async def test_reshaping_the_tree_reads_the_account_whole(stores):
    store, _ = stores
    worker = await owner(store, "worker")
    await worker.apply(*opened(ACME))
    assert "acme" not in store.cache.entries, "opening reshapes the account"
    await worker.apply(ACME.claim("dana", at="sales"))
    assert "acme" in store.cache.entries

    outcomes = await worker.apply(
        ACME.create("support", under="sales"), ACME.claim("eve", at="support")
    )
    assert "acme" not in store.cache.entries, "a reshaped account is not kept"
    more = await worker.apply(ACME.claim("frank", at="support"))

    assert statuses(outcomes) == ["accepted", "accepted"]
    assert statuses(more) == ["no_license_available"]
    assert "acme" in store.cache.entries
    account = await stored(store)
    assert figures(account, "sales") == (2, 2, 2, 0)
    assert violations(account) == []
