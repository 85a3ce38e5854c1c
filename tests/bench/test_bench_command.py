"""``licensing bench`` end to end on a tiny load, and the seeding it relies on."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from licensing.adapters.database import create_engine
from licensing.adapters.store import Store
from licensing.bench import growth
from licensing.bench.driver import summary
from licensing.bench.workload import Mix, Tree, parse_mix
from licensing.service_layer.messages import Entry, decode
from licensing.service_layer.processor import Processor
from licensing_contracts import Streams

LICENSING = str(Path(sys.executable).parent / "licensing")
LATENCY = {"count", "p50", "p95", "p99", "max", "mean"}
SCENARIO = {
    "commands",
    "sent",
    "missing",
    "seconds",
    "throughput",
    "latency_ms",
    "latency_ms_by_type",
    "outcomes",
    "worker",
    "machine",
}


async def leftovers(backing) -> tuple[set[str], set[bytes]]:
    connection = await asyncpg.connect(backing.postgres_url)
    try:
        rows = await connection.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'licensing_bench_%'"
        )
    finally:
        await connection.close()
    redis = Redis.from_url(backing.redis_url)
    try:
        keys = {key async for key in redis.scan_iter("bench-*")}
    finally:
        await redis.aclose()
    return {row["datname"] for row in rows}, keys


def test_a_tiny_run_writes_every_figure_as_json_and_leaves_nothing_behind(
    backing, tmp_path
):
    before = asyncio.run(leftovers(backing))
    output = tmp_path / "results.json"
    command = [
        LICENSING, "bench",
        "--database", "both",
        "--compare-batching",
        "--duration", "1",
        "--warmup", "0.5",
        "--accounts", "3",
        "--users", "10",
        "--in-flight", "8",
        "--rate", "40",
        "--growth-sizes", "10,200",
        "--growth-pairs", "4",
        "--redis-url", backing.redis_url,
        "--postgres-url", backing.postgres_url,
        "--drain-timeout", "20",
        "--output", str(output),
    ]  # fmt: skip

    finished = subprocess.run(command, capture_output=True, text=True, timeout=420)

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert "Load:" in finished.stdout
    results = json.loads(output.read_text())
    assert {"machine", "config", "runs", "batching_ratios", "growth"} <= set(results)
    assert {"nproc", "cpu_model", "memory_bytes", "postgresql", "redis"} <= set(
        results["machine"]
    )
    assert [(r["database"], r["batching"]) for r in results["runs"]] == [
        ("postgresql", True),
        ("postgresql", False),
        ("sqlite", True),
        ("sqlite", False),
    ]
    for run in results["runs"]:
        assert set(run["scenarios"]) == {"closed", "open"}
        for scenario in run["scenarios"].values():
            assert set(scenario) >= SCENARIO
            assert set(scenario["latency_ms"]) == LATENCY
            assert scenario["commands"] > 0
            assert scenario["missing"] == 0
            assert scenario["worker"]["cpu_seconds"] >= 0
            assert scenario["worker"]["peak_rss_bytes"] > 0
            machine = scenario["machine"]
            assert 0 <= machine["steal_percent"] <= machine["busy_percent"] <= 100
    for ratio in results["batching_ratios"]:
        assert ratio["scenarios"]["closed"]["ratio"] > 0
    for found in results["growth"]:
        assert [s["existing_claims"] for s in found["sizes"]] == [10, 200]
        for size in found["sizes"]:
            assert size["audited"]
            assert size["claim_latency_ms"]["count"] == 4
            assert size["release_latency_ms"]["count"] == 4
        assert found["outcomes"] == {"accepted": 16}
        assert found["missing"] == 0
    assert asyncio.run(leftovers(backing)) == before


def test_percentiles_are_nearest_rank_in_milliseconds():
    figures = summary([n / 1000 for n in range(1, 101)])

    assert figures == {
        "count": 100,
        "p50": 50.0,
        "p95": 95.0,
        "p99": 99.0,
        "max": 100.0,
        "mean": 50.5,
    }
    assert summary([])["p99"] is None


def test_the_mix_claims_for_users_without_a_license_and_releases_the_others():
    mix = Mix("t", ["a"], Tree(1, 0), users=1, weights=parse_mix("claim=1,release=1"))

    first = mix.next()
    mix.settled(first, accepted=True)
    second = mix.next()

    assert (first.kind, second.kind) == ("claim", "release")
    assert first.key == second.key


async def test_seeded_claims_keep_every_counter_true(database_url):
    store = Store(create_engine(database_url))
    epoch = await store.take_partition(0, "seed-test")
    documents = growth.setup_commands("t", "grown")
    await Processor(store, Streams("seed-test")).apply(
        0,
        epoch,
        [
            decode(Entry("s", f"{n}-0", {b"__data__": d.payload.encode()}))
            for n, d in enumerate(documents)
        ],
    )
    seeder = growth.Seeder(database_url, "grown")
    try:
        await seeder.grow_to(100)
        await seeder.grow_to(1000)

        assert await seeder.audit() == []
        account = await store.account("grown")
        assert account is not None
        assert len(account.claims) == 1000
        assert account.allocation(None, "testops").drawn == 600
        assert account.allocation("g1", "testops").drawn == 400
    finally:
        await seeder.close()
        await store.close()
