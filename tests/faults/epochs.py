"""Which owner of a partition wrote each event: its fencing epoch, recorded by a
trigger the tests add to a PostgreSQL database.

A batch's transaction holds the lock on its partition's row from its first
statement (the epoch check) to its commit, so the epoch a trigger reads there
is the epoch of the owner that writes. The trigger watches the outbox, whose
rows name their partition and carry the event's document (a batch's row
bundles its messages, one a line: [kind, target, correlation id], a tab, the
payload).
"""

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import text

from licensing.adapters.database import create_engine
from licensing_contracts import Event

_INSTALL = [
    """
    CREATE TABLE test_event_epochs (
        event_id text PRIMARY KEY,
        partition integer NOT NULL,
        epoch bigint
    )
    """,
    """
    CREATE FUNCTION test_stamp_epoch() RETURNS trigger AS $$
    BEGIN
        IF NEW.kind = 'bundle' THEN
            INSERT INTO test_event_epochs
            SELECT substr(m, strpos(m, E'\t') + 1)::json ->> 'event_id',
                NEW.partition, p.epoch
            FROM regexp_split_to_table(NEW.payload, E'\n') AS m, partitions p
            WHERE p.partition = NEW.partition
                AND split_part(m, E'\t', 1)::json ->> 1 LIKE '%.events';
        ELSIF NEW.target LIKE '%.events' THEN
            INSERT INTO test_event_epochs
            SELECT NEW.payload::json ->> 'event_id', NEW.partition, p.epoch
            FROM partitions p WHERE p.partition = NEW.partition;
        END IF;
        RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER test_stamp_epoch AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION test_stamp_epoch()
    """,
]


async def record_epochs(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in _INSTALL:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def epochs(url: str) -> dict[str, tuple[int, int]]:
    """event id -> (partition, epoch of the owner that wrote it)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT event_id, partition, epoch FROM test_event_epochs")
            )
            return {r.event_id: (r.partition, r.epoch) for r in rows}
    finally:
        await engine.dispose()


def stale_writes(
    written: dict[str, tuple[int, int]], events: Iterable[Event]
) -> list[str]:
    """Events that an older owner wrote or published after a newer one had
    started: in each account's sequence, and in each partition's stream order
    (repeats included), the epochs must never go down."""
    problems = []
    events = list(events)
    missing = [e.event_id for e in events if e.event_id not in written]
    if missing:
        problems.append(f"events with no recorded epoch: {missing[:3]}")
        return problems

    highest: dict[int, int] = defaultdict(int)
    for event in events:
        partition, epoch = written[event.event_id]
        if epoch < highest[partition]:
            problems.append(
                f"{event.account_id}#{event.sequence} of epoch {epoch} published "
                f"after one of epoch {highest[partition]} (partition {partition})"
            )
        highest[partition] = max(highest[partition], epoch)

    by_account: dict[str, dict[int, int]] = defaultdict(dict)
    for event in events:
        by_account[event.account_id][event.sequence] = written[event.event_id][1]
    for account_id, sequence_epochs in by_account.items():
        ordered = [sequence_epochs[s] for s in sorted(sequence_epochs)]
        if ordered != sorted(ordered):
            problems.append(f"{account_id}: epochs by sequence go down: {ordered}")
    return problems
