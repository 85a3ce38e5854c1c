"""The hash that tells a redelivered command from a reused command id.

Hashes are stored with every processed command: ``body_hash`` must give, for
every command, the digest of its first definition (kept here as ``reference``).
"""

import hashlib
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from licensing.service_layer.processor import body_hash
from licensing_contracts import (
    COMMAND_TYPES,
    MAX_QUANTITY,
    Assign,
    Claim,
    Command,
    CreateOrganization,
    DeleteOrganization,
    GrantRole,
    MoveOrganization,
    OpenAccount,
    Release,
    Revoke,
    RevokeRole,
    SetPurchased,
    command_adapter,
)
from licensing_contracts.identifiers import IDENTIFIER_PATTERN

MODELS = {
    model.model_fields["type"].default: model
    for model in (
        OpenAccount,
        SetPurchased,
        CreateOrganization,
        MoveOrganization,
        DeleteOrganization,
        Assign,
        Revoke,
        Claim,
        Release,
        GrantRole,
        RevokeRole,
    )
}


def reference(command: Command) -> str:
    """body_hash as first written: the definition of the stored hashes."""
    body = command.model_dump(mode="json", exclude={"reply_to"})
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


identifiers = st.from_regex(IDENTIFIER_PATTERN, fullmatch=True)
# Any text a sender may choose: non-ASCII, control characters, quotes, spaces.
texts = st.text(min_size=1, max_size=128)
quantities = st.integers(0, MAX_QUANTITY)
optional_identifiers = st.none() | identifiers

COMMON: dict[str, st.SearchStrategy[Any]] = {
    "command_id": texts,
    "account_id": identifiers,
    "actor": st.fixed_dictionaries(
        {"kind": st.sampled_from(["user", "service"]), "id": identifiers}
    ),
    "reply_to": st.none() | st.from_regex(r"^\S{1,256}$", fullmatch=True),
}
# Every field of every command type, besides the common ones and its type.
FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "open_account": {"admins": st.lists(identifiers, min_size=1, max_size=5)},
    "set_purchased": {"product": identifiers, "quantity": quantities},
    "create_organization": {
        "organization_id": identifiers,
        "parent_id": optional_identifiers,
        "name": st.text(min_size=1, max_size=200),
    },
    "move_organization": {
        "organization_id": identifiers,
        "parent_id": optional_identifiers,
    },
    "delete_organization": {"organization_id": identifiers},
    "assign": {
        "organization_id": identifiers,
        "product": identifiers,
        "quantity": quantities,
    },
    "revoke": {"organization_id": identifiers, "product": identifiers},
    "claim": {
        "organization_id": optional_identifiers,
        "product": identifiers,
        "user_id": identifiers,
    },
    "release": {"product": identifiers, "user_id": identifiers},
    "grant_role": {"user_id": identifiers, "role": st.just("account_admin")},
    "revoke_role": {"user_id": identifiers, "role": st.just("account_admin")},
}


@st.composite
def commands(draw: st.DrawFn) -> Command:
    type_ = draw(st.sampled_from(COMMAND_TYPES))
    fields = {**COMMON, **FIELDS[type_]}
    # Optional fields are sometimes left out, to take their defaults.
    names = [
        name
        for name in fields
        if name not in ("reply_to", "parent_id") or draw(st.booleans())
    ]
    document = {"type": type_, **{name: draw(fields[name]) for name in names}}
    try:
        return command_adapter.validate_python(document)
    except ValidationError:
        assume(False)  # e.g. a name of spaces only
        raise


class TestBodyHash:
    def test_the_strategy_writes_every_field_of_every_command_type(self):
        """A field added to a command must be added here, to be compared."""
        assert set(MODELS) == set(COMMAND_TYPES) == set(FIELDS)
        for type_, model in MODELS.items():
            assert set(model.model_fields) == {"type", *COMMON, *FIELDS[type_]}

    @settings(max_examples=1000)
    @given(commands())
    def test_it_is_the_digest_of_its_first_definition(self, command: Command):
        assert body_hash(command) == reference(command)

    @pytest.mark.parametrize(
        ("document", "digest"),
        [
            (
                {
                    "command_id": "cmd-1",
                    "type": "claim",
                    "account_id": "acme",
                    "actor": {"kind": "user", "id": "ada"},
                    "product": "testops",
                    "user_id": "ada",
                    "reply_to": "replies",
                },
                "9bf80607f08c868454ab9e803451f445cd76dc823c074acb35c4c394316f38f7",
            ),
            (
                {
                    "command_id": 'Ünïcode "id"\n\u2028',
                    "type": "create_organization",
                    "account_id": "acme",
                    "actor": {"kind": "service", "id": "billing"},
                    "organization_id": "qa",
                    "name": "  Qualité 質量  ",
                },
                "82eb80f022e2f3c67932703a51a5ed3dc937defca172073e7a9626070e6d0d8a",
            ),
        ],
    )
    def test_known_digests_do_not_change(self, document: dict[str, Any], digest: str):
        command = command_adapter.validate_python(document)
        assert body_hash(command) == reference(command) == digest

    def test_where_to_reply_is_not_part_of_it(self):
        sent = _claim()
        assert body_hash(sent) == body_hash(_claim(reply_to="elsewhere"))
        assert body_hash(sent) != body_hash(_claim(user_id="bob"))


def _claim(**changed: Any) -> Command:
    document = {
        "command_id": "cmd-1",
        "type": "claim",
        "account_id": "acme",
        "actor": {"kind": "user", "id": "ada"},
        "product": "testops",
        "user_id": "ada",
        **changed,
    }
    return command_adapter.validate_python(document)
