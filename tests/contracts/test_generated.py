"""The documents kept in contracts/ are what the code generates, and the contracts
package stands on its own for other teams."""

import json
import subprocess
import venv
from pathlib import Path

import pytest
from redis import Redis

from licensing.asyncapi import document, render
from licensing_contracts import LicensingClient, Streams, command_adapter

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
REGENERATE = "regenerate with: licensing export-contracts contracts"


def test_the_kept_asyncapi_document_is_what_faststream_generates():
    kept = CONTRACTS / "asyncapi.json"
    assert kept.exists(), REGENERATE
    assert kept.read_text() == render(), (
        f"contracts/asyncapi.json is stale; {REGENERATE}"
    )


def test_the_asyncapi_document_names_every_stream_of_the_contract():
    channels = {c["address"] for c in document("acme-prod")["channels"].values()}
    streams = Streams("acme-prod")
    assert channels == {
        streams.commands(0),
        streams.outcomes,
        streams.events,
        streams.dead_letters,
    }


def test_the_asyncapi_document_describes_every_command_type():
    text = json.dumps(document())
    for name in (
        "OpenAccount",
        "SetPurchased",
        "CreateOrganization",
        "MoveOrganization",
        "DeleteOrganization",
        "Assign",
        "Revoke",
        "Claim",
        "Release",
        "GrantRole",
        "RevokeRole",
        "Outcome",
        "Event",
        "DeadLetter",
    ):
        assert f'"{name}"' in text, name


@pytest.fixture(scope="module")
def contracts_only_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the contracts package and nothing else."""
    folder = tmp_path_factory.mktemp("contracts-venv")
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(CONTRACTS)],
        check=True,
        capture_output=True,
    )
    return python


def test_the_contracts_package_installs_with_pydantic_as_its_only_dependency(
    contracts_only_python: Path,
):
    installed = subprocess.run(
        [contracts_only_python, "-m", "pip", "list", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    names = {p["name"].lower().replace("_", "-") for p in json.loads(installed)}
    foreign = names - {
        "licensing-contracts",
        "pydantic",
        "pydantic-core",
        "annotated-types",
        "typing-extensions",
        "typing-inspection",
        "pip",
        "setuptools",
    }
    assert foreign == set()


def test_another_service_can_validate_and_route_a_command_with_it(
    contracts_only_python: Path,
):
    script = (
        "import sys, licensing_contracts as c\n"
        "cmd = c.command_adapter.validate_python({'command_id': '1', 'type': 'claim',"
        " 'account_id': 'acme', 'actor': {'kind': 'user', 'id': 'dana'},"
        " 'organization_id': 'qa', 'product': 'testops', 'user_id': 'dana'})\n"
        "print(c.Streams('licensing', 4).commands_of(cmd.account_id))\n"
        "assert 'redis' not in sys.modules and 'faststream' not in sys.modules\n"
    )
    result = subprocess.run(
        [contracts_only_python, "-c", script],
        check=True,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == Streams("licensing", 4).commands_of("acme")


def test_the_blocking_client_sends_to_the_partition_of_the_account(backing, prefix):
    redis = Redis.from_url(backing.redis_url)
    client = LicensingClient(redis, prefix=prefix, partitions=4)
    command = command_adapter.validate_python(
        {
            "command_id": "c-1",
            "type": "release",
            "account_id": "acme",
            "actor": {"kind": "user", "id": "dana"},
            "product": "testops",
            "user_id": "dana",
        }
    )
    try:
        entry = client.send(command)
        stream = Streams(prefix, 4).commands_of("acme")
        [(entry_id, fields)] = redis.xrange(stream)
        assert entry_id.decode() == entry
        assert json.loads(fields[b"__data__"])["command_id"] == "c-1"
    finally:
        redis.delete(*[f"{prefix}.commands.{n}" for n in range(4)])
        redis.close()
