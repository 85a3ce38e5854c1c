"""The benchmark's results: the machine it ran on, tables, and the JSON file."""

import json
import os
import platform
import sqlite3
import sys
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


async def machine(redis_url: str, postgres_url: str | None) -> dict[str, Any]:
    """What the figures depend on: cores, memory, CPU, server versions."""
    found: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "cpu_model": _cpu_model(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "redis": None,
        "postgresql": None,
    }
    redis: Redis = Redis.from_url(redis_url)
    try:
        info = await redis.info("server")
        found["redis"] = info.get("redis_version")
    finally:
        await redis.aclose()
    if postgres_url:
        connection = await asyncpg.connect(postgres_url)
        try:
            found["postgresql"] = await connection.fetchval("SHOW server_version")
            found["postgresql_settings"] = {
                name: await connection.fetchval(f"SHOW {name}")
                for name in ("fsync", "synchronous_commit", "shared_buffers")
            }
        finally:
            await connection.close()
    return found


def write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def load_table(results: dict[str, Any]) -> Table:
    table = Table(
        title="Load: throughput from first send to last outcome; latency "
        "from send to outcome (ms)"
    )
    for column in (
        "database",
        "batching",
        "scenario",
        "commands",
        "cmd/s",
        "p50",
        "p95",
        "p99",
        "max",
        "worker CPU s",
        "peak RSS MB",
        "steal %",
        "not accepted",
    ):
        table.add_column(
            column,
            justify="left"
            if column in ("database", "scenario", "not accepted")
            else "right",
        )
    for run in results["runs"]:
        for name, scenario in run["scenarios"].items():
            latency = scenario["latency_ms"]
            refused = {k: v for k, v in scenario["outcomes"].items() if k != "accepted"}
            if scenario["missing"]:
                refused["missing"] = scenario["missing"]
            table.add_row(
                run["database"],
                "on" if run["batching"] else "off",
                name
                + (
                    f" @{scenario['offered_rate']:g}/s"
                    if "offered_rate" in scenario
                    else f" x{scenario['in_flight']}"
                ),
                f"{scenario['commands']:,}",
                f"{scenario['throughput']:,.0f}",
                _ms(latency["p50"]),
                _ms(latency["p95"]),
                _ms(latency["p99"]),
                _ms(latency["max"]),
                f"{scenario['worker']['cpu_seconds']:.1f}",
                _mb(scenario["worker"]["peak_rss_bytes"]),
                _steal(scenario.get("machine")),
                ", ".join(f"{k} {v}" for k, v in sorted(refused.items())) or "-",
            )
    return table


def _steal(machine: dict[str, float] | None) -> str:
    return "-" if machine is None else f"{machine['steal_percent']:.0f}"


def growth_table(results: dict[str, Any]) -> Table:
    table = Table(
        title="Cost growth: one command at a time, latency (ms) by the "
        "claims already in the account (seeded with bulk SQL)"
    )
    for column in (
        "database",
        "existing claims",
        "claim p50",
        "claim p99",
        "release p50",
        "release p99",
        "claim p50 vs smallest",
    ):
        table.add_column(column, justify="left" if column == "database" else "right")
    for growth in results["growth"]:
        smallest = growth["sizes"][0]["claim_latency_ms"]["p50"]
        for size in growth["sizes"]:
            claim, release = size["claim_latency_ms"], size["release_latency_ms"]
            table.add_row(
                growth["database"],
                f"{size['existing_claims']:,}",
                _ms(claim["p50"]),
                _ms(claim["p99"]),
                _ms(release["p50"]),
                _ms(release["p99"]),
                f"{claim['p50'] / smallest:.2f}x" if smallest else "-",
            )
    return table


def ratios_table(results: dict[str, Any]) -> Table:
    table = Table(
        title="Batching: the same load with one transaction per batch "
        "vs one per command"
    )
    for column in ("database", "scenario", "batched", "unbatched", "ratio"):
        table.add_column(
            column, justify="left" if column in ("database", "scenario") else "right"
        )
    for ratio in results["batching_ratios"]:
        for name, figures in ratio["scenarios"].items():
            table.add_row(
                ratio["database"],
                f"{name} {figures['figure']}",
                f"{figures['batched']:,.1f}",
                f"{figures['unbatched']:,.1f}",
                f"{figures['ratio']:.2f}x" if figures["ratio"] else "-",
            )
    return table


def render(console: Console, results: dict[str, Any]) -> None:
    m = results["machine"]
    console.print(
        f"machine: {m['nproc']} cores, {_mb(m['memory_bytes'])} MB, {m['cpu_model']}; "
        f"PostgreSQL {m['postgresql'] or '-'}, Redis {m['redis']}, "
        f"SQLite {m['sqlite']}, Python {m['python']}"
    )
    if results["runs"]:
        console.print(load_table(results))
    if results["batching_ratios"]:
        console.print(ratios_table(results))
    if results["growth"]:
        console.print(growth_table(results))
