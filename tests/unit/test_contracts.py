"""The wire contract: what senders may write, and what the service promises."""

import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from licensing_contracts import (
    COMMAND_TYPES,
    MAX_QUANTITY,
    Assign,
    Claim,
    CreateOrganization,
    DeleteOrganization,
    GrantRole,
    MoveOrganization,
    OpenAccount,
    Release,
    Revoke,
    RevokeRole,
    SetPurchased,
    Streams,
    command_adapter,
    partition_of,
)
from licensing_contracts.schemas import render

SCHEMAS = Path(__file__).resolve().parents[2] / "contracts" / "schemas"

COMMON = {
    "command_id": "7d4c2b36-2f0e-4a43-9f6a-0c6a3b1f8e21",
    "account_id": "acme",
    "actor": {"kind": "user", "id": "dana"},
}

# One well-formed document per command type, as another team would write it.
EXAMPLES: dict[str, tuple[type, dict[str, Any]]] = {
    "open_account": (OpenAccount, {"admins": ["ada", "bob"]}),
    "set_purchased": (SetPurchased, {"product": "testops", "quantity": 200}),
    "create_organization": (
        CreateOrganization,
        {"organization_id": "qa", "parent_id": None, "name": "Quality"},
    ),
    "move_organization": (
        MoveOrganization,
        {"organization_id": "qa", "parent_id": "eng"},
    ),
    "delete_organization": (DeleteOrganization, {"organization_id": "qa"}),
    "assign": (
        Assign,
        {"organization_id": "qa", "product": "testops", "quantity": 10},
    ),
    "revoke": (Revoke, {"organization_id": "qa", "product": "testops"}),
    "claim": (
        Claim,
        {"organization_id": "qa", "product": "testops", "user_id": "dana"},
    ),
    "release": (Release, {"product": "testops", "user_id": "dana"}),
    "grant_role": (GrantRole, {"user_id": "bob", "role": "account_admin"}),
    "revoke_role": (RevokeRole, {"user_id": "bob", "role": "account_admin"}),
}


def document(type_: str, **changes: Any) -> dict[str, Any]:
    return {**COMMON, "type": type_, **EXAMPLES[type_][1], **changes}


def parses(doc: dict[str, Any]) -> bool:
    try:
        command_adapter.validate_json(json.dumps(doc))
    except ValidationError:
        return False
    return True


class TestCommandsParse:
    def test_there_is_an_example_for_every_command_type(self):
        assert set(EXAMPLES) == set(COMMAND_TYPES)

    @pytest.mark.parametrize("type_", COMMAND_TYPES)
    def test_every_command_type_parses_from_plain_json(self, type_):
        model, fields = EXAMPLES[type_]

        command = command_adapter.validate_json(json.dumps(document(type_)))

        assert type(command) is model
        assert command.type == type_
        assert command.account_id == "acme"
        assert command.actor.kind == "user"
        for name, value in fields.items():
            assert getattr(command, name) == value

    @pytest.mark.parametrize("type_", COMMAND_TYPES)
    def test_a_command_survives_a_round_trip_through_json(self, type_):
        command = command_adapter.validate_json(json.dumps(document(type_)))

        again = command_adapter.validate_json(command.model_dump_json())

        assert again == command

    def test_the_wire_md_example_parses(self):
        text = """{
          "command_id": "7d4c2b36-2f0e-4a43-9f6a-0c6a3b1f8e21",
          "type": "claim",
          "account_id": "acme",
          "actor": {"kind": "user", "id": "dana"},
          "reply_to": "checkout.replies",
          "organization_id": "qa",
          "product": "testops",
          "user_id": "dana"
        }"""

        command = command_adapter.validate_json(text)

        assert isinstance(command, Claim)
        assert command.reply_to == "checkout.replies"

    def test_a_claim_without_organization_is_at_the_account_level(self):
        doc = document("claim")
        del doc["organization_id"]

        command = command_adapter.validate_python(doc)

        assert isinstance(command, Claim)
        assert command.organization_id is None

    def test_an_organization_created_without_parent_is_under_the_account(self):
        doc = document("create_organization")
        del doc["parent_id"]

        command = command_adapter.validate_python(doc)

        assert isinstance(command, CreateOrganization)
        assert command.parent_id is None

    def test_a_service_may_be_the_actor(self):
        doc = document("set_purchased", actor={"kind": "service", "id": "billing"})

        assert parses(doc)

    @pytest.mark.parametrize("quantity", [0, 1, MAX_QUANTITY])
    def test_quantities_from_zero_to_ten_million_are_accepted(self, quantity):
        assert parses(document("assign", quantity=quantity))
        assert parses(document("set_purchased", quantity=quantity))

    @pytest.mark.parametrize(
        "identifier", ["a", "A-z_0.9:@x", "user@example.com", "x" * 128]
    )
    def test_identifiers_of_allowed_characters_up_to_128_are_accepted(self, identifier):
        assert parses(document("claim", account_id=identifier, user_id=identifier))


REQUIRED = {
    type_: sorted(
        {"command_id", "account_id", "actor", "type", *fields}
        - {"parent_id", "organization_id" if type_ == "claim" else ""}
    )
    for type_, (_, fields) in EXAMPLES.items()
}


class TestMalformedCommandsAreRefused:
    @pytest.mark.parametrize(
        ("type_", "field"),
        [(t, f) for t, fields in REQUIRED.items() for f in fields],
    )
    def test_a_missing_field(self, type_, field):
        doc = document(type_)
        del doc[field]

        assert not parses(doc)

    @pytest.mark.parametrize("quantity", ["5", 5.5, 5.0, True, None, [5]])
    def test_a_quantity_that_is_not_an_integer(self, quantity):
        assert not parses(document("assign", quantity=quantity))
        assert not parses(document("set_purchased", quantity=quantity))

    @pytest.mark.parametrize("quantity", [-1, MAX_QUANTITY + 1, 2**63])
    def test_a_quantity_out_of_range(self, quantity):
        assert not parses(document("assign", quantity=quantity))
        assert not parses(document("set_purchased", quantity=quantity))

    @pytest.mark.parametrize(
        "identifier",
        ["", "has space", "a/b", "tab\there", "x" * 129, "ünïcode", "a\nb"],
    )
    @pytest.mark.parametrize(
        ("type_", "field"),
        [
            ("claim", "account_id"),
            ("claim", "organization_id"),
            ("claim", "product"),
            ("claim", "user_id"),
            ("create_organization", "organization_id"),
            ("create_organization", "parent_id"),
            ("open_account", "admins"),
        ],
    )
    def test_a_bad_identifier(self, identifier, type_, field):
        value = [identifier] if field == "admins" else identifier

        assert not parses(document(type_, **{field: value}))

    @pytest.mark.parametrize("identifier", ["", "has space", "a/b", "x" * 129])
    def test_a_bad_actor_id(self, identifier):
        assert not parses(document("claim", actor={"kind": "user", "id": identifier}))

    def test_an_actor_of_an_unknown_kind(self):
        assert not parses(document("claim", actor={"kind": "robot", "id": "r2"}))

    def test_a_command_id_too_long_or_empty(self):
        assert parses(document("claim", command_id="c" * 128))
        assert not parses(document("claim", command_id="c" * 129))
        assert not parses(document("claim", command_id=""))

    def test_an_unknown_type(self):
        assert not parses({**document("claim"), "type": "steal"})

    def test_no_type(self):
        doc = document("claim")
        del doc["type"]

        assert not parses(doc)

    @pytest.mark.parametrize("type_", COMMAND_TYPES)
    def test_an_unknown_extra_field(self, type_):
        assert not parses(document(type_, priority="high"))

    def test_an_unknown_field_in_the_actor(self):
        actor = {"kind": "user", "id": "dana", "role": "admin"}

        assert not parses(document("claim", actor=actor))

    def test_an_account_opened_without_admins(self):
        assert not parses(document("open_account", admins=[]))

    def test_a_role_other_than_account_admin(self):
        assert not parses(document("grant_role", role="owner"))

    @pytest.mark.parametrize("name", ["", "   ", "n" * 201])
    def test_an_organization_name_empty_or_too_long(self, name):
        assert not parses(document("create_organization", name=name))

    def test_a_reply_stream_with_spaces(self):
        assert not parses(document("claim", reply_to="my replies"))

    def test_a_document_that_is_not_json(self):
        with pytest.raises(ValidationError):
            command_adapter.validate_json('{"type": "claim",')


class TestPartitions:
    @pytest.mark.parametrize(
        ("account_id", "partitions", "expected"),
        # Computed once with zlib.crc32 and pinned, so that a change of the
        # function (a different hash, signed values, another encoding) shows.
        [
            ("acme", 4, 2),
            ("acme", 16, 14),
            ("initech", 7, 6),
            ("ünïcode", 5, 4),
        ],
    )
    def test_known_accounts_have_known_partitions(
        self, account_id, partitions, expected
    ):
        assert partition_of(account_id, partitions) == expected

    @given(account_id=st.text(min_size=1), partitions=st.integers(1, 1024))
    def test_the_partition_is_the_unsigned_crc32_of_the_utf8_id_modulo(
        self, account_id, partitions
    ):
        expected = zlib.crc32(account_id.encode("utf-8")) % partitions

        assert partition_of(account_id, partitions) == expected
        assert 0 <= partition_of(account_id, partitions) < partitions

    def test_one_partition_takes_every_account(self):
        assert {partition_of(a, 1) for a in ["acme", "globex", "initech"]} == {0}

    @pytest.mark.parametrize("partitions", [0, -1])
    def test_at_least_one_partition_is_needed(self, partitions):
        with pytest.raises(ValueError, match="at least 1"):
            partition_of("acme", partitions)


class TestStreams:
    def test_the_default_stream_names(self):
        streams = Streams()

        assert streams.all_commands == ["licensing.commands.0"]
        assert streams.commands_of("acme") == "licensing.commands.0"
        assert streams.outcomes == "licensing.outcomes"
        assert streams.events == "licensing.events"
        assert streams.dead_letters == "licensing.dead-letters"

    def test_names_with_a_prefix_and_partitions(self):
        streams = Streams("billing-eu", 4)

        assert streams.all_commands == [
            "billing-eu.commands.0",
            "billing-eu.commands.1",
            "billing-eu.commands.2",
            "billing-eu.commands.3",
        ]
        assert streams.commands_of("acme") == "billing-eu.commands.2"
        assert streams.outcomes == "billing-eu.outcomes"
        assert streams.events == "billing-eu.events"
        assert streams.dead_letters == "billing-eu.dead-letters"


class TestCommittedSchemas:
    """Other teams read contracts/schemas; it must say what the models say."""

    def test_the_committed_schemas_are_those_the_models_export(self):
        if not SCHEMAS.is_dir():
            pytest.fail(
                f"{SCHEMAS} is missing; regenerate it with `make contracts` "
                "(licensing export-contracts contracts) and commit it"
            )
        committed = {
            path.name: path.read_text() for path in SCHEMAS.glob("*.schema.json")
        }

        exported = render()

        stale = sorted(
            name for name in exported if committed.get(name) != exported[name]
        )
        unknown = sorted(set(committed) - set(exported))
        assert (stale, unknown) == ([], []), (
            f"contracts/schemas differs from the models: stale {stale}, "
            f"not exported any more {unknown}; regenerate with `make contracts`"
        )

    def test_every_schema_is_valid_json_naming_every_command_type(self):
        schemas = {name: json.loads(text) for name, text in render().items()}

        assert set(schemas) == {
            "command.schema.json",
            "outcome.schema.json",
            "event.schema.json",
            "dead-letter.schema.json",
        }
        command = json.dumps(schemas["command.schema.json"])
        for type_ in COMMAND_TYPES:
            assert f'"{type_}"' in command
