"""A private place for one benchmark run: database, stream prefix, workers.

Each run creates its own PostgreSQL database (or SQLite file) and stream
prefix, named after a random run id, and removes them when it ends, so a
benchmark never touches another run's data or a developer's.
"""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
from redis.asyncio import Redis

from ..adapters.migrate import upgrade

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def licensing_executable() -> list[str]:
    """The ``licensing`` script of this environment."""
    beside = Path(sys.executable).parent / "licensing"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("licensing")
    if found:
        return [found]
    return [sys.executable, "-c", "from licensing.entrypoints.cli import main; main()"]


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _admin(server_url: str, *statements: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@dataclass
class Database:
    """A migrated database that exists for one run only."""

    kind: str
    url: str
    server_url: str = ""
    folder: Path | None = None

    @classmethod
    async def create(cls, kind: str, name: str, server_url: str) -> "Database":
        if kind == "postgresql":
            await _admin(server_url, f'CREATE DATABASE "{name}"')
            database = cls(kind, _with_database(server_url, name), server_url)
        elif kind == "sqlite":
            folder = Path(tempfile.mkdtemp(prefix=f"{name}-"))
            database = cls(kind, f"sqlite:///{folder / 'bench.sqlite3'}", folder=folder)
        else:
            raise ValueError(f"unknown database kind {kind!r}")
        try:
            await asyncio.to_thread(upgrade, database.url)
        except BaseException:
            await database.drop()
            raise
        return database

    async def drop(self) -> None:
        if self.kind == "postgresql":
            name = urlsplit(self.url).path.lstrip("/")
            await _admin(
                self.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            )
        elif self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


async def forget_prefix(redis: Redis, prefix: str) -> None:
    """Delete every stream and key of a run's prefix."""
    keys = [key async for key in redis.scan_iter(f"{prefix}.*", count=1000)]
    for start in range(0, len(keys), 500):
        await redis.delete(*keys[start : start + 500])


@dataclass
class Usage:
    """CPU and memory of one worker process."""

    cpu_seconds: float
    peak_rss_bytes: int | None


def machine_ticks() -> tuple[int, int, int] | None:
    """(all, idle, stolen) CPU ticks of the whole machine since boot, from
    /proc/stat; None where there is none. Stolen time is what a hypervisor gave
    other guests while this one had work to run."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (FileNotFoundError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice]
    idle = fields[3] + fields[4]
    steal = fields[7] if len(fields) > 7 else 0
    return sum(fields[:8]), idle, steal


def machine_share(
    before: tuple[int, int, int] | None, after: tuple[int, int, int] | None
) -> dict[str, float] | None:
    """Percent of the machine's CPU time that was busy and that was stolen."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    total = after[0] - before[0]
    return {
        "busy_percent": round(100 * (total - (after[1] - before[1])) / total, 1),
        "steal_percent": round(100 * (after[2] - before[2]) / total, 1),
    }


def usage(pid: int) -> Usage:
    """From /proc on Linux (VmHWM is the peak RSS); psutil elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            after_name = f.read().rsplit(")", 1)[1].split()
        cpu = (int(after_name[11]) + int(after_name[12])) / CLOCK_TICKS
        peak = None
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
        return Usage(cpu, peak)
    except FileNotFoundError:
        import psutil  # type: ignore[import-untyped]  # no /proc: the dev extra

        process = psutil.Process(pid)
        times = process.cpu_times()
        return Usage(times.user + times.system, process.memory_info().rss)


@dataclass
class Workers:
    """``licensing worker`` processes with their own log files."""

    env: dict[str, str]
    count: int
    folder: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> None:
        for n in range(self.count):
            log = (self.folder / f"worker-{n + 1}.log").open("ab")
            env = {**os.environ, **self.env, "LICENSING_WORKER_ID": f"bench-{n + 1}"}
            self.processes.append(
                subprocess.Popen(
                    [*licensing_executable(), "worker"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
            log.close()

    def restart(self) -> None:
        """Stop the workers and start new ones, as a deployment would."""
        self.stop()
        self.processes.clear()
        self.start()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def check_alive(self) -> None:
        for n, process in enumerate(self.processes):
            if process.poll() is not None:
                log = (self.folder / f"worker-{n + 1}.log").read_text(errors="replace")
                raise RuntimeError(
                    f"worker {n + 1} exited with {process.returncode}:\n{log[-3000:]}"
                )

    async def wait_ready(
        self, redis: Redis, prefix: str, partitions: int, timeout: float = 60
    ) -> None:
        """Until every partition's lease is held (each worker took its share)."""
        keys = [f"{prefix}.lease.{n}" for n in range(partitions)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            holders = await redis.mget(keys)
            if all(holders) and len(set(holders)) == min(self.count, partitions):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the workers did not take the partitions in {timeout}s")

    def usage(self) -> list[Usage]:
        return [usage(pid) for pid in self.pids]

    def stop(self, timeout: float = 20.0) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
