"""The ``licensing`` command: run the worker, migrate, send commands, inspect."""

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from licensing_contracts import AsyncLicensingClient, OutcomeTimeout, command_adapter

from .. import logs
from ..bench.command import bench
from ..settings import ConfigurationError, Settings, redact
from . import views

app = typer.Typer(
    help="Licensing service: dedicated license pools per organization.",
    no_args_is_help=True,
    add_completion=False,
    # Plain tracebacks: rich ones print local variables, which may hold secrets.
    pretty_exceptions_enable=False,
)
# Tables piped to a file or another program keep their columns.
console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)

EXIT_REJECTED = 3
EXIT_TIMEOUT = 4


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except ConfigurationError as error:
        err.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None


@app.command()
def worker() -> None:
    """Run the worker: consume commands, apply them, publish outcomes and events."""
    from ..bootstrap import worker_app

    settings = settings_or_exit()
    logs.configure(settings.log_format, settings.log_level)
    try:
        asyncio.run(worker_app(settings).run())
    except ConfigurationError as error:
        err.print(f"[red]cannot start:[/red] {error}")
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Bring the database's schema up to date."""
    from ..adapters.migrate import upgrade

    settings = settings_or_exit()
    upgrade(settings.database_url)
    console.print(f"schema of {redact(settings.database_url)} is up to date")


@app.command()
def send(
    document: Annotated[
        str | None, typer.Argument(help="A command as JSON, or its type")
    ] = None,
    account: Annotated[str | None, typer.Option(help="account_id")] = None,
    organization: Annotated[str | None, typer.Option(help="organization_id")] = None,
    parent: Annotated[str | None, typer.Option(help="parent_id")] = None,
    product: Annotated[str | None, typer.Option()] = None,
    user: Annotated[str | None, typer.Option(help="user_id")] = None,
    quantity: Annotated[int | None, typer.Option()] = None,
    name: Annotated[str | None, typer.Option()] = None,
    admins: Annotated[str | None, typer.Option(help="comma-separated user ids")] = None,
    role: Annotated[str | None, typer.Option()] = None,
    actor: Annotated[str, typer.Option(help="kind:id, e.g. user:dana")] = "service:cli",
    command_id: Annotated[str | None, typer.Option()] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait")] = 10.0,
    wait: Annotated[bool, typer.Option(help="wait for the outcome")] = True,
) -> None:
    """Send one command and print its outcome (exit 3 if rejected, 4 on timeout)."""
    settings = settings_or_exit()
    if document and document.lstrip().startswith("{"):
        body: dict[str, Any] = json.loads(document)
    else:
        kind, _, who = actor.partition(":")
        body = {"type": document, "actor": {"kind": kind, "id": who}}
        fields = {
            "account_id": account,
            "organization_id": organization,
            "parent_id": parent,
            "product": product,
            "user_id": user,
            "quantity": quantity,
            "name": name,
            "role": role,
            "admins": admins.split(",") if admins else None,
        }
        body.update({k: v for k, v in fields.items() if v is not None})
    body.setdefault("command_id", command_id or str(uuid.uuid4()))
    try:
        command = command_adapter.validate_python(body)
    except ValidationError as error:
        err.print(f"[red]not a valid command:[/red]\n{error}")
        raise typer.Exit(2) from None
    outcome = asyncio.run(_send(settings, command, timeout, wait))
    if outcome is None:
        return
    console.print_json(outcome.model_dump_json())
    if outcome.status != "accepted":
        raise typer.Exit(EXIT_REJECTED)


async def _send(settings: Settings, command: Any, timeout: float, wait: bool) -> Any:
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.redis_url)
    client = AsyncLicensingClient(
        redis, prefix=settings.stream_prefix, partitions=settings.partitions
    )
    try:
        if not wait:
            entry = await client.send(command)
            console.print(f"sent {command.command_id} as entry {entry}")
            return None
        return await client.execute(command, timeout=timeout)
    except OutcomeTimeout as error:
        err.print(f"[yellow]{error}[/yellow]: is a worker running?")
        raise typer.Exit(EXIT_TIMEOUT) from None
    finally:
        await redis.delete(client.reply_stream)
        await redis.aclose()


@app.command()
def figures(
    account: Annotated[str, typer.Argument(help="account_id")],
    product: Annotated[str | None, typer.Option(help="only this product")] = None,
) -> None:
    """Show an account's levels with their four figures, as a tree."""
    settings = settings_or_exit()
    found = asyncio.run(views.load_account(settings, account))
    if found is None:
        err.print(f"account {account} does not exist")
        raise typer.Exit(1)
    products = [product] if product else views.products(found)
    if not products:
        console.print(f"account {account} has no licenses yet")
    for each in products:
        console.print(views.figures_table(found, each))


@app.command()
def history(
    account: Annotated[str, typer.Argument(help="account_id")],
    after: Annotated[int, typer.Option(help="only events after this sequence")] = 0,
    limit: Annotated[int, typer.Option()] = 100,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON event a line")
    ] = False,
) -> None:
    """Show an account's events, oldest first."""
    settings = settings_or_exit()
    payloads = asyncio.run(views.history(settings, account, after, limit))
    if as_json:
        for payload in payloads:
            sys.stdout.write(payload + "\n")
        return
    console.print(views.history_table(account, [json.loads(p) for p in payloads]))


@app.command()
def demo() -> None:
    """Run the spec's two examples through Redis and the database; show them."""
    from .demo import run_demo

    settings = settings_or_exit(http_port=0)
    logs.configure(settings.log_format, "WARNING")
    ok = asyncio.run(run_demo(settings, console))
    if not ok:
        raise typer.Exit(1)


@app.command("export-contracts")
def export_contracts(
    folder: Annotated[Path, typer.Argument(help="where contracts/ lives")] = Path(
        "contracts"
    ),
) -> None:
    """Regenerate the JSON Schemas and the AsyncAPI document kept in contracts/."""
    from licensing_contracts import schemas

    from ..asyncapi import render

    for path in schemas.write(folder / "schemas"):
        console.print(f"wrote {path}")
    (folder / "asyncapi.json").write_text(render())
    console.print(f"wrote {folder / 'asyncapi.json'}")


app.command()(bench)


def main() -> None:
    app()
