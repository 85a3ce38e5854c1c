"""Runs the benchmark's scenarios, each in its own database and stream prefix."""

import asyncio
import contextlib
import functools
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from licensing_contracts import Streams

from ..settings import Settings
from . import growth, report
from .driver import Driver, Phase, summary
from .environment import (
    Database,
    Usage,
    Workers,
    forget_prefix,
    machine_share,
    machine_ticks,
)
from .workload import Mix, Sent, Tree, setup_commands

SCENARIOS = ("closed", "open", "growth")


@dataclass(frozen=True)
class BenchConfig:
    """What to run, and how hard."""

    databases: tuple[str, ...] = ("postgresql",)
    scenarios: tuple[str, ...] = SCENARIOS
    duration: float = 20.0
    warmup: float = 3.0
    in_flight: int = 1000
    rate: float = 1000.0
    accounts: int = 100
    tree: Tree = field(default_factory=Tree)
    users: int = 200
    mix: dict[str, float] = field(
        default_factory=lambda: {"claim": 45, "release": 45, "assign": 10}
    )
    workers: int = 1
    partitions: int = 1
    batch_size: int = Settings().batch_size
    account_cache: int = Settings().account_cache
    batching: tuple[bool, ...] = (True,)
    growth_sizes: tuple[int, ...] = (1_000, 100_000, 1_000_000)
    growth_pairs: int = 200
    redis_url: str = "redis://127.0.0.1:6379/0"
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    worker_log_level: str = "INFO"
    drain_timeout: float = 60.0
    seed: int = 1

    def __post_init__(self) -> None:
        unknown = set(self.scenarios) - set(SCENARIOS)
        if unknown:
            raise ValueError(f"unknown scenarios: {', '.join(sorted(unknown))}")
        if set(self.databases) - {"postgresql", "sqlite"}:
            raise ValueError("databases are postgresql and sqlite")
        if self.partitions < self.workers:
            raise ValueError("give each worker a partition: partitions >= workers")
        if list(self.growth_sizes) != sorted(self.growth_sizes):
            raise ValueError("growth sizes go from small to large")


def worker_usage(before: list[Usage], after: list[Usage]) -> dict[str, Any]:
    peaks = [u.peak_rss_bytes for u in after if u.peak_rss_bytes is not None]
    return {
        "cpu_seconds": round(
            sum(
                a.cpu_seconds - b.cpu_seconds
                for a, b in zip(after, before, strict=True)
            ),
            2,
        ),
        "peak_rss_bytes": max(peaks) if peaks else None,
        "per_worker": [
            {
                "cpu_seconds": round(a.cpu_seconds - b.cpu_seconds, 2),
                "peak_rss_bytes": a.peak_rss_bytes,
            }
            for a, b in zip(after, before, strict=True)
        ],
    }


def phase_figures(phase: Phase) -> dict[str, Any]:
    everything = [x for values in phase.latencies.values() for x in values]
    return {
        "commands": phase.received,
        "sent": phase.sent,
        "missing": phase.missing,
        "seconds": round(phase.seconds, 3),
        "throughput": round(phase.throughput, 1),
        "latency_ms": summary(everything),
        "latency_ms_by_type": {
            kind: summary(values) for kind, values in sorted(phase.latencies.items())
        },
        "outcomes": dict(sorted(phase.outcomes.items())),
    }


class Bench:
    """One benchmark invocation: every run it asked for, and the results."""

    def __init__(self, config: BenchConfig, console: Console) -> None:
        self.config = config
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )

    async def run(self) -> dict[str, Any]:
        config = self.config
        uses_postgres = "postgresql" in config.databases
        results: dict[str, Any] = {
            "version": 1,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": await report.machine(
                config.redis_url, config.postgres_url if uses_postgres else None
            ),
            "config": _config_json(config),
            "runs": [],
            "batching_ratios": [],
            "growth": [],
        }
        load = [s for s in config.scenarios if s in ("closed", "open")]
        with self.progress:
            for kind in config.databases:
                if load:
                    runs = [
                        await self.load_run(kind, batching, load)
                        for batching in config.batching
                    ]
                    results["runs"].extend(runs)
                    if len(runs) == 2:
                        results["batching_ratios"].append(_ratios(kind, runs))
                if "growth" in config.scenarios:
                    results["growth"].append(await self.growth_run(kind))
        results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        return results

    @contextlib.asynccontextmanager
    async def environment(
        self, kind: str, batching: bool
    ) -> AsyncIterator[tuple[str, Driver, Workers]]:
        """A database, a stream prefix and started workers, all removed after."""
        config = self.config
        run = uuid.uuid4().hex[:8]
        prefix = f"bench-{run}"
        redis: Redis = Redis.from_url(config.redis_url)
        folder = Path(tempfile.mkdtemp(prefix="licensing-bench-"))
        database = await Database.create(
            kind, f"licensing_bench_{run}", config.postgres_url
        )
        env = {
            "LICENSING_REDIS_URL": config.redis_url,
            "LICENSING_DATABASE_URL": database.url,
            "LICENSING_STREAM_PREFIX": prefix,
            "LICENSING_PARTITIONS": str(config.partitions),
            "LICENSING_BATCH_SIZE": str(config.batch_size),
            "LICENSING_ACCOUNT_CACHE": str(config.account_cache),
            "LICENSING_BATCHING": "true" if batching else "false",
            "LICENSING_HTTP_PORT": "0",
            "LICENSING_LOG_FORMAT": "json",
            "LICENSING_LOG_LEVEL": config.worker_log_level,
        }
        workers = Workers(env, config.workers, folder)
        driver = Driver(redis, Streams(prefix, config.partitions))
        failed = False
        try:
            workers.start()
            await workers.wait_ready(redis, prefix, config.partitions)
            self.console.print(
                f"[dim]{kind}: workers {', '.join(map(str, workers.pids))}, "
                f"stream prefix {prefix}[/dim]"
            )
            driver.watch = workers.check_alive
            await driver.start()
            yield run, driver, workers
        except BaseException:
            failed = True
            raise
        finally:
            await driver.stop()
            workers.stop()
            await forget_prefix(redis, prefix)
            await redis.aclose()
            await database.drop()
            if failed:
                self.console.print(f"[yellow]worker logs kept in {folder}[/yellow]")
            else:
                shutil.rmtree(folder, ignore_errors=True)

    @contextlib.asynccontextmanager
    async def tracked(
        self,
        description: str,
        phase: Callable[[], Phase],
        total: float,
        by_time: bool = False,
    ) -> AsyncIterator[TaskID]:
        """A progress bar that follows the driver's current phase: by the seconds
        gone of a timed phase, else by the outcomes received."""
        task = self.progress.add_task(description, total=total, status="")

        started = time.perf_counter()

        def show() -> None:
            current = phase()
            elapsed = time.perf_counter() - started
            rate = current.received / elapsed if elapsed else 0.0
            self.progress.update(
                task,
                completed=elapsed if by_time else current.received,
                status=f"{current.received:,} outcomes, {rate:,.0f}/s",
            )

        async def follow() -> None:
            while True:
                show()
                await asyncio.sleep(0.25)

        ticker = asyncio.create_task(follow())
        try:
            yield task
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            show()
            self.progress.update(task, completed=total)

    async def setup(self, driver: Driver, commands: list[Sent], what: str) -> Phase:
        remaining = iter(commands)
        async with self.tracked(
            f"{what}: setting up", lambda: driver.phase, len(commands)
        ):
            phase = await driver.closed_loop(
                "setup",
                functools.partial(next, remaining, None),
                self.config.in_flight,
                drain_timeout=self.config.drain_timeout,
            )
        refused = {k: v for k, v in phase.outcomes.items() if k != "accepted"}
        if refused or phase.missing:
            raise RuntimeError(
                f"setting up failed: refused {refused}, {phase.missing} missing"
            )
        return phase

    async def load_run(
        self, kind: str, batching: bool, scenarios: list[str]
    ) -> dict[str, Any]:
        config = self.config
        label = f"{kind}, batching {'on' if batching else 'off'}"
        async with self.environment(kind, batching) as (run, driver, workers):
            accounts = [f"acct-{n}" for n in range(config.accounts)]
            started = time.perf_counter()
            setup = await self.setup(
                driver, list(setup_commands(run, accounts, config.tree)), label
            )
            setup_seconds = time.perf_counter() - started
            mix = Mix(run, accounts, config.tree, config.users, config.mix, config.seed)
            if config.warmup > 0:
                async with self.tracked(
                    f"{label}: warm-up",
                    lambda: driver.phase,
                    config.warmup,
                    by_time=True,
                ):
                    await driver.closed_loop(
                        "warmup",
                        mix.next,
                        config.in_flight,
                        config.warmup,
                        mix.settled,
                        config.drain_timeout,
                    )
            results: dict[str, Any] = {}
            for scenario in scenarios:
                before = workers.usage()
                ticks = machine_ticks()
                if scenario == "closed":
                    async with self.tracked(
                        f"{label}: closed loop, {config.in_flight} in flight",
                        lambda: driver.phase,
                        config.duration,
                        by_time=True,
                    ):
                        phase = await driver.closed_loop(
                            "closed",
                            mix.next,
                            config.in_flight,
                            config.duration,
                            mix.settled,
                            config.drain_timeout,
                        )
                    figures = {"in_flight": config.in_flight, **phase_figures(phase)}
                else:
                    async with self.tracked(
                        f"{label}: open loop at {config.rate:g}/s",
                        lambda: driver.phase,
                        config.duration,
                        by_time=True,
                    ):
                        phase = await driver.open_loop(
                            "open",
                            mix.next,
                            config.rate,
                            config.duration,
                            mix.settled,
                            config.drain_timeout,
                        )
                    figures = {"offered_rate": config.rate, **phase_figures(phase)}
                figures["worker"] = worker_usage(before, workers.usage())
                figures["machine"] = machine_share(ticks, machine_ticks())
                results[scenario] = figures
        return {
            "database": kind,
            "batching": batching,
            "workers": config.workers,
            "partitions": config.partitions,
            "batch_size": config.batch_size,
            "account_cache": config.account_cache,
            "setup": {
                "accounts": config.accounts,
                "levels_per_account": len(config.tree.levels()),
                "users_per_account": config.users,
                "commands": setup.received,
                "seconds": round(setup_seconds, 2),
            },
            "scenarios": results,
        }

    async def growth_run(self, kind: str) -> dict[str, Any]:
        """One account per size, seeded to that many claims; then claims and
        releases sent one at a time, going round the accounts, so that whatever
        else the machine does weighs on every size alike."""
        config = self.config
        label = f"{kind}, cost growth"
        async with self.environment(kind, config.batching[0]) as (run, driver, workers):
            accounts = {size: f"growth-{run}-{size}" for size in config.growth_sizes}
            setup = [
                sent
                for account in accounts.values()
                for sent in growth.setup_commands(run, account)
            ]
            await self.setup(driver, setup, label)
            seeded: dict[int, float] = {}
            audited: dict[int, bool] = {}
            for size, account in accounts.items():
                task = self.progress.add_task(
                    f"{label}: seeding {size:,} claims", total=None, status=""
                )
                seeder = growth.Seeder(driver_database_url(workers), account)
                try:
                    started = time.perf_counter()
                    await seeder.grow_to(size)
                    seeded[size] = time.perf_counter() - started
                    problems = await seeder.audit()
                finally:
                    await seeder.close()
                if problems:
                    raise RuntimeError(f"seeded counters are wrong: {problems[:5]}")
                audited[size] = problems is not None
                self.progress.update(
                    task, total=1, completed=1, status=f"{seeded[size]:.1f}s"
                )
            # The seeded rows did not come through the workers: new ones, as
            # after a deployment, hold nothing in memory from before them.
            workers.restart()
            await workers.wait_ready(driver.redis, f"bench-{run}", config.partitions)
            warm = iter(growth.probes(f"{run}-warm", accounts, 5))
            await driver.closed_loop("warm", functools.partial(next, warm, None), 1)
            probes = iter(growth.probes(run, accounts, config.growth_pairs))
            async with self.tracked(
                f"{label}: claims and releases one at a time",
                lambda: driver.phase,
                config.growth_pairs * 2 * len(accounts),
            ):
                phase = await driver.closed_loop(
                    "growth",
                    functools.partial(next, probes, None),
                    1,
                    drain_timeout=config.drain_timeout,
                )
        sizes: list[dict[str, Any]] = [
            {
                "existing_claims": size,
                "seed_seconds": round(seeded[size], 2),
                "audited": audited[size],
                "claim_latency_ms": summary(phase.latencies.get(f"claim {size}", [])),
                "release_latency_ms": summary(
                    phase.latencies.get(f"release {size}", [])
                ),
            }
            for size in accounts
        ]
        smallest = sizes[0]["claim_latency_ms"]["p50"] if sizes else None
        largest = sizes[-1]["claim_latency_ms"]["p50"] if sizes else None
        return {
            "database": kind,
            "seeded_with": "bulk SQL INSERT ... SELECT, counters raised in the "
            "same transaction; one account per size, probed in turn",
            "sizes": sizes,
            "outcomes": dict(phase.outcomes),
            "missing": phase.missing,
            "claim_p50_largest_vs_smallest": round(largest / smallest, 3)
            if smallest and largest
            else None,
        }


def driver_database_url(workers: Workers) -> str:
    return workers.env["LICENSING_DATABASE_URL"]


def _ratios(kind: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    on, off = (runs[0], runs[1]) if runs[0]["batching"] else (runs[1], runs[0])
    found: dict[str, Any] = {}
    for name in on["scenarios"]:
        a, b = on["scenarios"][name], off["scenarios"][name]
        if name == "closed":
            found[name] = {
                "figure": "commands/s",
                "batched": a["throughput"],
                "unbatched": b["throughput"],
                "ratio": round(a["throughput"] / b["throughput"], 2)
                if b["throughput"]
                else None,
            }
        else:
            p99a, p99b = a["latency_ms"]["p99"], b["latency_ms"]["p99"]
            found[name] = {
                "figure": "p99 ms (unbatched / batched)",
                "batched": p99a or 0.0,
                "unbatched": p99b or 0.0,
                "ratio": round(p99b / p99a, 2) if p99a and p99b else None,
            }
    return {"database": kind, "scenarios": found}


def _config_json(config: BenchConfig) -> dict[str, Any]:
    found = asdict(config)
    found["tree"] = {
        "top_organizations": config.tree.tops,
        "sub_organizations_each": config.tree.subs,
    }
    return found
