"""The ``licensing bench`` command line; the work is done in ``runner``."""

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part.replace("_", "")) for part in text.split(",") if part)


def bench(
    database: Annotated[
        str, typer.Option(help="postgresql, sqlite, or both")
    ] = "postgresql",
    scenarios: Annotated[
        str, typer.Option(help="comma-separated: closed, open, growth")
    ] = "closed,open,growth",
    duration: Annotated[float, typer.Option(help="seconds of each load")] = 20.0,
    warmup: Annotated[float, typer.Option(help="seconds of unmeasured load")] = 3.0,
    in_flight: Annotated[
        int, typer.Option(help="closed loop: commands outstanding")
    ] = 1000,
    rate: Annotated[float, typer.Option(help="open loop: commands per second")] = 1000,
    accounts: Annotated[int, typer.Option()] = 100,
    organizations: Annotated[
        str, typer.Option(help="TOPSxSUBS: organizations per account")
    ] = "3x2",
    users: Annotated[int, typer.Option(help="users per account")] = 200,
    mix: Annotated[
        str, typer.Option(help="weights of claim, release and assign")
    ] = "claim=45,release=45,assign=10",
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    partitions: Annotated[int, typer.Option()] = 1,
    batch_size: Annotated[int, typer.Option(help="LICENSING_BATCH_SIZE")] = 500,
    account_cache: Annotated[
        int, typer.Option(help="LICENSING_ACCOUNT_CACHE; 0 turns the cache off")
    ] = 100_000,
    batching: Annotated[
        bool,
        typer.Option(help="--no-batching: one transaction per command"),
    ] = True,
    compare_batching: Annotated[
        bool, typer.Option(help="run the load batched and unbatched; print the ratio")
    ] = False,
    growth_sizes: Annotated[
        str, typer.Option(help="existing claims to measure at")
    ] = "1000,100000,1000000",
    growth_pairs: Annotated[
        int, typer.Option(help="claim+release pairs measured at each size")
    ] = 200,
    redis_url: Annotated[
        str | None, typer.Option(help="default: $LICENSING_REDIS_URL")
    ] = None,
    postgres_url: Annotated[
        str, typer.Option(help="a server URL that may CREATE DATABASE")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    worker_log_level: Annotated[str, typer.Option()] = "INFO",
    drain_timeout: Annotated[
        float, typer.Option(help="seconds to wait for outstanding outcomes")
    ] = 60.0,
    output: Annotated[
        Path | None, typer.Option(help="write the results as JSON")
    ] = None,
    seed: Annotated[int, typer.Option()] = 1,
) -> None:
    """Benchmark real workers: throughput, latency, CPU, memory, cost growth."""
    from .report import render, write
    from .runner import Bench, BenchConfig
    from .workload import Tree, parse_mix

    tops, _, subs = organizations.partition("x")
    try:
        config = BenchConfig(
            databases=("postgresql", "sqlite") if database == "both" else (database,),
            scenarios=tuple(s.strip() for s in scenarios.split(",") if s.strip()),
            duration=duration,
            warmup=warmup,
            in_flight=in_flight,
            rate=rate,
            accounts=accounts,
            tree=Tree(int(tops), int(subs or 0)),
            users=users,
            mix=parse_mix(mix),
            workers=workers,
            partitions=partitions,
            batch_size=batch_size,
            account_cache=account_cache,
            batching=(True, False) if compare_batching else (batching,),
            growth_sizes=_sizes(growth_sizes),
            growth_pairs=growth_pairs,
            redis_url=redis_url
            or os.environ.get("LICENSING_REDIS_URL", "redis://127.0.0.1:6379/0"),
            postgres_url=postgres_url,
            worker_log_level=worker_log_level,
            drain_timeout=drain_timeout,
            seed=seed,
        )
    except ValueError as error:
        Console(stderr=True).print(f"[red]bench:[/red] {error}")
        raise typer.Exit(2) from None
    # Piped to a file, rich would fold the tables to 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    results = asyncio.run(Bench(config, console).run())
    render(console, results)
    if output is not None:
        write(output, results)
        console.print(f"results written to {output}")
