"""An entry that keeps failing for a reason other than its content is
dead-lettered after the configured deliveries, and its partition moves on."""

import pytest
from sqlalchemy import text

from licensing.adapters.database import create_engine
from licensing_contracts import partition_of

from .conftest import FAST, PARTITIONS, outcome_count, until_shared
from .history import (
    Published,
    check_history,
    unique_events,
    wait_for,
    wait_for_outcomes,
)
from .workload import accounts_on, claim, open_account, release

pytestmark = pytest.mark.faults

DELIVERIES = 3


async def test_a_release_the_database_refuses_is_dead_lettered_and_the_rest_goes_on(
    database_url, prefix, redis, streams, producer, start_worker
):
    worker = start_worker(database_url, prefix, max_deliveries=DELIVERIES, **FAST)
    await until_shared([worker])
    account, neighbour = _two_on_one_partition()
    setup = [*open_account(account), *open_account(neighbour)]
    setup.append(claim(account, "dana", "ops"))
    await producer.send(setup)
    await wait_for_outcomes(redis, streams, setup, timeout=30)

    # A bad manual fix: ops no longer counts dana's claim, so releasing it
    # would take ops's count of claims below zero, which the schema forbids.
    await _execute(
        database_url,
        "UPDATE allocations SET drawn = 0 "
        f"WHERE account_id = '{account}' AND level_id = 'ops'",
    )
    poison = release(account, "dana")
    around = [claim(neighbour, "eli", "eng"), claim(account, "eli", "qa")]
    later = [
        claim(account, "fay", None),
        claim(neighbour, "dana", "ops"),
        release(neighbour, "dana"),
        release(account, "eli"),
    ]
    await producer.send([*around, poison, *later], chunk=100)
    await wait_for_outcomes(redis, streams, [poison, *around, *later], timeout=30)
    answered = await outcome_count(redis, streams)
    await producer.send([poison])  # sent again: its outcome is sent again
    await wait_for(lambda: _more(redis, streams, answered), 10, "the second outcome")

    published = await Published.read(redis, streams)
    answers = published.outcomes_by_command()[(account, poison.command_id)]
    assert [a.reason for a in answers] == ["processing_failed"] * 2
    letters = [d for d in published.dead_letters if d.command_id == poison.command_id]
    assert [d.reason for d in letters] == ["processing_failed"]
    attempts = [
        line
        for line in worker.log_lines()
        if line["message"].startswith("command failed")
        and line.get("command_id") == poison.command_id
    ]
    assert len(attempts) == DELIVERIES

    for command in [*around, *later]:
        (outcome, *_) = published.outcomes_by_command()[
            (command.account_id, command.command_id)
        ]
        assert outcome.accepted, outcome
    events = unique_events(published.events)[account]
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert poison.command_id not in {e.command_id for e in events}
    mine = [c for c in [*setup, *around, *later] if c.account_id == neighbour]
    await check_history(redis, streams, database_url, mine)


async def _more(redis, streams, count):
    return await outcome_count(redis, streams) > count


def _two_on_one_partition() -> tuple[str, str]:
    accounts = accounts_on(PARTITIONS, 2)
    first = accounts[0]
    (second,) = [
        a
        for a in accounts[1:]
        if partition_of(a, PARTITIONS) == partition_of(first, PARTITIONS)
    ]
    return first, second


async def _execute(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()
