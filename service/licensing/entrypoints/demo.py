"""``licensing demo``: the two examples of the spec, end to end, in one command."""

import uuid
from typing import Any

from rich.console import Console

from licensing_contracts import AsyncLicensingClient, Outcome, command_adapter

from ..bootstrap import ensure_schema, services
from ..service_layer.ownership import Worker
from ..settings import Settings
from .views import figures_table

ADMIN = {"kind": "user", "id": "ada"}
BILLING = {"kind": "service", "id": "billing"}


async def run_demo(settings: Settings, console: Console) -> bool:
    """Starts a worker in this process (others may be running too), sends the
    commands over Redis, and checks every outcome against the spec."""
    async with services(settings) as s:
        await ensure_schema(s.store, settings)
        worker = Worker(settings, s.bus, s.store)
        await worker.start()
        client = AsyncLicensingClient(
            s.redis, prefix=settings.stream_prefix, partitions=settings.partitions
        )
        account = f"demo-{uuid.uuid4().hex[:8]}"
        checks: list[bool] = []

        async def send(expect: str, **body: Any) -> Outcome:
            command = command_adapter.validate_python(
                {"command_id": str(uuid.uuid4()), "account_id": account, **body}
            )
            outcome = await client.execute(command, timeout=30)
            got = outcome.reason.value if outcome.reason else "accepted"
            mark = "[green]✓[/green]" if got == expect else "[red]✗[/red]"
            checks.append(got == expect)
            what = " ".join(
                f"{k}={v}" for k, v in body.items() if k not in ("type", "actor")
            )
            console.print(f"{mark} {body['type']} {what} → {got}")
            return outcome

        try:
            console.rule(f"Example 1 · account {account}")
            await send("accepted", type="open_account", actor=BILLING, admins=["ada"])
            await send(
                "accepted",
                type="set_purchased",
                actor=BILLING,
                product="testops",
                quantity=200,
            )
            for org, quantity in (
                ("alpha", 20),
                ("beta", 10),
                ("gamma", 1),
                ("delta", 5),
            ):
                await send(
                    "accepted",
                    type="create_organization",
                    actor=ADMIN,
                    organization_id=org,
                    name=org.title(),
                )
                await send(
                    "accepted",
                    type="assign",
                    actor=ADMIN,
                    organization_id=org,
                    product="testops",
                    quantity=quantity,
                )
            await send(
                "accepted",
                type="claim",
                actor={"kind": "user", "id": "dana"},
                organization_id="gamma",
                product="testops",
                user_id="dana",
            )
            await send(
                "no_license_available",
                type="claim",
                actor={"kind": "user", "id": "eli"},
                organization_id="gamma",
                product="testops",
                user_id="eli",
            )
            console.print(figures_table(await _load(s.store, account), "testops"))

            console.rule("Example 2 · an organization with 10, two sub-organizations")
            await send(
                "accepted",
                type="create_organization",
                actor=ADMIN,
                organization_id="omega",
                name="Omega",
            )
            await send(
                "accepted",
                type="assign",
                actor=ADMIN,
                organization_id="omega",
                product="testops",
                quantity=10,
            )
            for sub in ("omega-one", "omega-two"):
                await send(
                    "accepted",
                    type="create_organization",
                    actor=ADMIN,
                    organization_id=sub,
                    parent_id="omega",
                    name=sub.title(),
                )
            await send(
                "accepted",
                type="assign",
                actor=ADMIN,
                organization_id="omega-one",
                product="testops",
                quantity=5,
            )
            await send(
                "insufficient_pool",
                type="assign",
                actor=ADMIN,
                organization_id="omega-two",
                product="testops",
                quantity=6,
            )
            await send(
                "accepted",
                type="assign",
                actor=ADMIN,
                organization_id="omega-two",
                product="testops",
                quantity=5,
            )
            console.print(figures_table(await _load(s.store, account), "testops"))
        finally:
            await worker.stop()
            await s.redis.delete(client.reply_stream)

        ok = all(checks)
        verdict = (
            "[green]every outcome as the spec says[/green]"
            if ok
            else "[red]mismatch[/red]"
        )
        console.print(f"{sum(checks)}/{len(checks)} checks: {verdict}")
        console.print(
            f"see it again: licensing figures {account}; licensing history {account}"
        )
        return ok


async def _load(store: Any, account: str) -> Any:
    found = await store.account(account)
    assert found is not None
    return found
