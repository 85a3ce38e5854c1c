"""The store on a fresh database of each kind (SQLite and PostgreSQL), with the
account cache a worker has (PostgreSQL only)."""

from collections.abc import AsyncIterator

import pytest

from licensing.adapters.database import create_engine
from licensing.adapters.store import Store
from licensing.settings import Settings

from .helpers import Partition

CACHE_SIZE = Settings().account_cache


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = Store(create_engine(database_url), cache_size=CACHE_SIZE)
    yield store
    await store.close()


@pytest.fixture
async def partition(store: Store) -> Partition:
    epoch = await store.take_partition(0, "store-tests")
    return Partition(store, 0, epoch)
