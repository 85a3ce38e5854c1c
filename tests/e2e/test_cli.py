"""The ``licensing`` command as an operator uses it, against a running worker."""

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from licensing_contracts import Outcome

pytestmark = pytest.mark.e2e

LICENSING = str(Path(sys.executable).parent / "licensing")
# Wide enough that rich does not fold the tables' cells, as in a terminal.
TERMINAL = {"COLUMNS": "160"}


async def licensing(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the command; its exit code, standard output and standard error."""
    process = await asyncio.create_subprocess_exec(
        LICENSING,
        *args,
        env={**os.environ, **TERMINAL, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def table_rows(text: str) -> list[list[str]]:
    """The body rows of a rich table: each cell's text, the first unstripped."""
    rows = []
    for line in text.splitlines():
        if line.startswith("│"):
            cells = line.strip().strip("│").split("│")
            rows.append([cells[0].rstrip()[1:], *(c.strip() for c in cells[1:])])
    return rows


class TestSend:
    async def test_an_accepted_command_prints_its_outcome_and_exits_0(
        self, shared, shared_wire, account
    ):
        code, out, _ = await licensing(
            "send",
            "open_account",
            "--account",
            account.account_id,
            "--admins",
            "ada,bob",
            "--actor",
            "service:billing",
            env=shared.env,
        )

        assert code == 0
        outcome = Outcome.model_validate_json(out)
        assert outcome.accepted
        assert outcome.account_id == account.account_id
        [event] = await shared_wire.wait_for(
            shared_wire.streams.events, lambda e: e["event_id"] in outcome.events
        )
        assert event["change"]["admins"] == ["ada", "bob"]

    async def test_a_refused_command_prints_its_outcome_and_exits_3(
        self, shared, shared_wire, account
    ):
        await shared_wire.execute(account.open_account())

        code, out, _ = await licensing(
            "send",
            "claim",
            "--account",
            account.account_id,
            "--product",
            "testops",
            "--user",
            "dana",
            "--actor",
            "user:dana",
            env=shared.env,
        )

        assert code == 3
        assert Outcome.model_validate_json(out).reason == "no_license_available"

    async def test_a_whole_command_can_be_given_as_json(
        self, shared, shared_wire, account
    ):
        await shared_wire.execute(account.open_account())
        command = account.set_purchased(12)

        code, out, _ = await licensing("send", json.dumps(command), env=shared.env)

        assert code == 0
        assert Outcome.model_validate_json(out).command_id == command["command_id"]

    async def test_a_command_that_is_not_valid_is_not_sent_and_exits_2(
        self, shared, account
    ):
        code, _, err = await licensing(
            "send",
            "set_purchased",
            "--account",
            account.account_id,
            "--product",
            "testops",
            "--quantity",
            "-1",
            env=shared.env,
        )

        assert code == 2
        assert "quantity" in err

    async def test_with_no_worker_running_it_gives_up_and_exits_4(
        self, backing, redis, prefix, account
    ):
        env = {
            "LICENSING_REDIS_URL": backing.redis_url,
            "LICENSING_STREAM_PREFIX": prefix,
        }

        code, _, err = await licensing(
            "send",
            json.dumps(account.open_account()),
            "--timeout",
            "1",
            env=env,
        )

        assert code == 4
        assert "is a worker running?" in err


class TestFigures:
    async def test_it_prints_the_tree_of_levels_with_their_figures(
        self, shared, shared_wire, account
    ):
        await shared_wire.execute_all(
            account.open_account(), account.set_purchased(200)
        )
        for org, quantity in (("a", 20), ("b", 10), ("c", 1), ("d", 5)):
            await shared_wire.execute_all(
                account.create(org), account.assign(org, quantity)
            )
        await shared_wire.execute_all(
            account.claim("dana", at="c"),
            account.create("qa", under="a"),
            account.claim("eli", at="qa"),
        )

        code, out, _ = await licensing("figures", account.account_id, env=shared.env)

        assert code == 0
        assert f"{account.account_id} · testops" in out
        assert table_rows(out) == [
            ["account", "200", "164", "0", "164", "itself"],
            ["  a", "20", "20", "1", "19", "itself"],
            ["    qa", "—", "—", "1", "19", "a"],
            ["  b", "10", "10", "0", "10", "itself"],
            ["  c", "1", "1", "1", "0", "itself"],
            ["  d", "5", "5", "0", "5", "itself"],
        ]

    async def test_an_unknown_account_exits_1(self, shared, account):
        code, _, err = await licensing("figures", account.account_id, env=shared.env)

        assert code == 1
        assert "does not exist" in err


class TestHistory:
    async def test_it_lists_the_events_of_the_account_in_order(
        self, shared, shared_wire, account
    ):
        await shared_wire.execute_all(
            account.open_account(),
            account.set_purchased(5),
            account.create("qa"),
            account.claim("dana", at="qa"),
        )

        code, out, _ = await licensing("history", account.account_id, env=shared.env)

        assert code == 0
        rows = [row for row in table_rows(out) if row[0].strip()]
        assert [(row[0].strip(), row[2]) for row in rows] == [
            ("1", "account.opened"),
            ("2", "license.changed"),
            ("3", "organization.changed"),
            ("4", "license.changed"),
        ]
        assert rows[3][4].startswith("claimed")

    async def test_as_json_it_prints_the_events_as_subscribers_got_them(
        self, shared, shared_wire, account
    ):
        await shared_wire.execute_all(
            account.open_account(), account.set_purchased(5), account.create("qa")
        )

        code, out, _ = await licensing(
            "history", account.account_id, "--json", env=shared.env
        )

        assert code == 0
        printed = [json.loads(line) for line in out.splitlines()]
        assert printed == await shared_wire.events_of(account.account_id)


async def test_the_demo_reproduces_the_spec_examples(
    backing, postgres_url, prefix, redis
):
    env = {
        "LICENSING_REDIS_URL": backing.redis_url,
        "LICENSING_DATABASE_URL": postgres_url,
        "LICENSING_STREAM_PREFIX": prefix,
    }

    code, out, err = await licensing("demo", env=env)

    assert code == 0, out + err
    assert "every outcome as the spec says" in out
