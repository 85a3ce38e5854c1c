"""What operators read: one structured log line per command, and never a
database password, even when the worker cannot start."""

from urllib.parse import urlsplit, urlunsplit

import pytest

from support.worker import WorkerProcess

from .conftest import deployed
from .wire import Wire

pytestmark = pytest.mark.e2e

PASSWORD = "s3cret-pw"
COMMAND_FIELDS = {"command_id", "account_id", "command_type", "outcome", "duration_ms"}


def with_password(url: str, database: str | None = None) -> str:
    """The URL with a password the server's trust authentication ignores."""
    parts = urlsplit(url)
    if parts.password:
        pytest.skip("the test server has a password of its own")
    netloc = f"{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port or 5432}"
    path = f"/{database}" if database else parts.path
    return urlunsplit(parts._replace(netloc=netloc, path=path))


@pytest.fixture(scope="module")
def guarded(backing, postgres_databases, tmp_path_factory):
    """A worker whose database URL holds a password."""
    database_url = postgres_databases.fresh()
    folder = tmp_path_factory.mktemp("guarded")
    with deployed(backing, with_password(database_url), folder) as found:
        yield found
    postgres_databases.drop(database_url)


@pytest.fixture
def guarded_wire(redis, guarded):
    return Wire(redis, guarded.prefix)


def command_lines(worker: WorkerProcess, command_id: str, count: int = 1) -> list[dict]:
    """The log lines of a command's outcome, once there are ``count`` of them (the
    line is written just after the outcome is published)."""

    def lines() -> list[dict]:
        return [
            line
            for line in worker.log_lines()
            if line.get("command_id") == command_id and "outcome" in line
        ]

    worker.wait_until(lambda: len(lines()) >= count, 10, f"{count} lines")
    return lines()


class TestTheLogOfACommand:
    async def test_each_command_gets_one_line_with_its_ids_outcome_and_duration(
        self, guarded, guarded_wire, account
    ):
        commands = [
            account.open_account(),
            account.set_purchased(1),
            account.claim("dana"),
            account.claim("eli"),
        ]

        outcomes = await guarded_wire.execute_all(*commands)

        for command, outcome in zip(commands, outcomes, strict=True):
            [line] = command_lines(guarded.worker, command["command_id"])
            assert set(line) >= COMMAND_FIELDS
            assert line["account_id"] == account.account_id
            assert line["command_type"] == command["type"]
            assert line["outcome"] == outcome.status
            assert line["duration_ms"] >= 0
            assert line["level"] == "info"
        [refused] = command_lines(guarded.worker, commands[-1]["command_id"])
        assert refused["outcome"] == "rejected"
        assert refused["reason"] == "no_license_available"

    async def test_a_redelivered_command_is_logged_again_with_the_same_outcome(
        self, guarded, guarded_wire, account
    ):
        opened = account.open_account()
        await guarded_wire.execute(opened)

        await guarded_wire.execute(opened)

        lines = command_lines(guarded.worker, opened["command_id"], count=2)
        assert [line["outcome"] for line in lines] == ["accepted", "accepted"]


class TestTheDatabasePassword:
    async def test_it_never_appears_in_the_log_of_a_working_worker(
        self, guarded, guarded_wire, account
    ):
        await guarded_wire.execute_all(account.open_account(), account.claim("x"))
        guarded.worker.wait_owning()

        text = guarded.worker.logs_text()

        assert "database postgresql://postgres:***@" in text
        assert PASSWORD not in text

    def test_it_never_appears_when_the_database_cannot_be_reached(
        self, backing, prefix, start_worker
    ):
        missing = with_password(backing.postgres_url, "no_such_database")
        worker = start_worker(missing, prefix)

        assert worker.process.wait(60) != 0
        assert PASSWORD not in worker.logs_text()
        assert "no_such_database" in worker.logs_text()
