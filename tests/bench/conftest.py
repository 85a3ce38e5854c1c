"""A second fresh database of the same kind as ``database_url``, for comparing
two runs of the same commands."""

from collections.abc import Iterator

import pytest


@pytest.fixture
def twin_database_url(
    request: pytest.FixtureRequest, database_url: str
) -> Iterator[str]:
    kind = request.node.callspec.params["database_url"]
    name = "sqlite_databases" if kind == "sqlite" else "postgres_databases"
    databases = request.getfixturevalue(name)
    url = databases.fresh()
    yield url
    databases.drop(url)
