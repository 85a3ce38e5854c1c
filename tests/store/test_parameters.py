"""On PostgreSQL, the keys a batch reads and the rows it writes travel as one
text per column, every value behind a separator (``store._as_text``). Whatever
the values hold (that separator, the null marker, empty texts, any Unicode),
PostgreSQL must read back exactly the rows that were sent, in order."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from licensing.adapters.database import create_engine
from licensing.adapters.store import _as_text, _keys

TYPES = ("text", "text", "bigint")
AWKWARD = ["", "\x1f", "\x1e", "\x1f\x1f", "a\x1fb", "\x1e\x1f", " ", "NULL", "{}"]
texts = st.one_of(
    st.sampled_from(AWKWARD),
    # PostgreSQL's text holds no NUL, and UTF-8 no lone surrogates.
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")),
)
rows = st.lists(
    st.tuples(
        st.none() | texts,
        texts,
        st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    ),
    max_size=30,
)
READ_BACK = text(
    "SELECT c0, c1, c2 FROM "
    + _keys("postgresql", TYPES, "r").replace(" AS k(", " WITH ORDINALITY AS k(")
    + " ORDER BY ordinality"
)


@pytest.fixture
async def connection(postgres_url):
    engine = create_engine(postgres_url)
    async with engine.connect() as connection:
        yield connection
    await engine.dispose()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(sent=rows, other=rows)
async def test_postgresql_reads_back_exactly_the_rows_sent(connection, sent, other):
    # Another group in the same call shares the separator and the null marker.
    params = _as_text({"r": (sent, 3), "o": (other, 3)})

    got = await connection.execute(READ_BACK, params)

    assert [tuple(row) for row in got] == sent


@pytest.mark.parametrize("awkward", ["\x1f", "\x1e"])
def test_a_value_holding_the_separator_or_marker_changes_them(awkward):
    params = _as_text({"r": ([(awkward, "x", 1)], 3)})

    assert awkward not in (params["sep"], params["null"])
    assert params["sep"] not in awkward
