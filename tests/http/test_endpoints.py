"""The HTTP endpoints beside a running worker: probes, metrics, AsyncAPI."""

import asyncio
import json
import re
import uuid

import pytest

from licensing_contracts import command_adapter
from support.databases import PostgresDatabases

pytestmark = pytest.mark.e2e

BILLING = {"kind": "service", "id": "billing"}


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        found = ",".join(sorted((match[2] or "").split(","))) if match[2] else ""
        if found == wanted:
            return float(match[3])
    return 0.0


async def send(client, **body):
    body.setdefault("command_id", str(uuid.uuid4()))
    body.setdefault("account_id", "acme")
    return await client.execute(command_adapter.validate_python(body), timeout=30)


def test_a_healthy_worker_is_live_and_ready(postgres_url, prefix, start_worker):
    worker = start_worker(postgres_url, prefix)
    worker.wait_owning()

    live_status, live = worker.get("/livez")
    ready_status, ready = worker.get("/readyz")

    assert live_status == 200
    assert json.loads(live)["partitions"] == [0]
    assert ready_status == 200
    assert json.loads(ready) == {"ready": True, "problems": {}}


async def test_metrics_move_when_commands_are_processed(
    postgres_url, prefix, client, start_worker
):
    worker = start_worker(postgres_url, prefix)
    worker.wait_owning()
    before = worker.get("/metrics")[1].decode()

    await send(client, type="open_account", actor=BILLING, admins=["ada"])
    await send(
        client, type="set_purchased", actor=BILLING, product="testops", quantity=1
    )
    for user in ("dana", "eli"):
        await send(
            client,
            type="claim",
            actor={"kind": "user", "id": user},
            product="testops",
            user_id=user,
        )
    # Metrics are counted as the batch is reported, just after its outcomes leave.
    worker.wait_until(
        lambda: "no_license_available" in worker.get("/metrics")[1].decode(), 10
    )
    after = worker.get("/metrics")[1].decode()

    claims = {"type": "claim", "outcome": "accepted"}
    refused = {"type": "claim", "outcome": "no_license_available"}
    assert (
        metric(after, "licensing_commands_total", **claims)
        == metric(before, "licensing_commands_total", **claims) + 1
    )
    assert metric(after, "licensing_commands_total", **refused) == 1
    assert metric(after, "licensing_command_seconds_count") >= 4
    assert metric(after, "licensing_batch_size_count") >= 1
    assert metric(after, "licensing_partitions_owned") == 1
    assert "licensing_outbox_backlog" in after
    assert "licensing_pending_entries" in after


def test_the_worker_is_not_ready_while_its_database_is_unreachable(
    postgres_databases: PostgresDatabases, prefix, start_worker
):
    url = postgres_databases.fresh()
    worker = start_worker(url, prefix)
    worker.wait_owning()

    postgres_databases.drop(url)

    worker.wait_until(lambda: worker.get("/readyz")[0] == 503, 30, "not ready")
    problems = json.loads(worker.get("/readyz")[1])["problems"]
    assert set(problems) == {"database"}
    assert worker.get("/livez")[0] == 200


async def test_the_worker_is_not_live_once_its_consumers_have_stopped(
    postgres_url, prefix, redis, start_worker
):
    worker = start_worker(postgres_url, prefix)
    worker.wait_owning()

    # A command stream replaced by a plain key makes every read fail for a reason
    # the consumer cannot recover from: it stops, and liveness must say so.
    stream = f"{prefix}.commands.0"
    await redis.delete(stream)
    await redis.set(stream, "not a stream")

    await asyncio.to_thread(
        worker.wait_until, lambda: worker.get("/livez")[0] == 503, 30, "not live"
    )
    assert worker.get("/readyz")[0] == 200


def test_the_asyncapi_document_is_served(postgres_url, prefix, start_worker):
    worker = start_worker(postgres_url, prefix)
    worker.wait_owning()

    status, body = worker.get("/asyncapi")

    assert status == 200
    document = json.loads(body)
    assert document["asyncapi"].startswith("3.")
    assert f"{prefix}.commands.0" in {
        c["address"] for c in document["channels"].values()
    }
    assert worker.get("/nowhere")[0] == 404


async def test_an_unreadable_entry_is_counted_and_logged_as_a_dead_letter(
    postgres_url, prefix, redis, start_worker
):
    worker = start_worker(postgres_url, prefix)
    worker.wait_owning()

    await redis.xadd(f"{prefix}.commands.0", {"__data__": b"\xff not json"})

    def counted() -> bool:
        text = worker.get("/metrics")[1].decode()
        return (
            metric(text, "licensing_dead_letters_total", reason="invalid_command") == 1
        )

    await asyncio.to_thread(worker.wait_until, counted, 30, "dead letter counted")
    [line] = [
        line
        for line in worker.log_lines()
        if line["message"].startswith("entry dead-lettered")
    ]
    assert line["reason"] == "invalid_command"
    assert "not UTF-8" in line["message"]
    assert line["entry_id"]
