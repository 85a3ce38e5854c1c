"""Reading command entries. Plain JSON takes a shortcut past FastStream's
envelope parser and reads whatever the entry holds as the envelope path does,
down to the error message; what no parser can read is an error, never an
exception."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from licensing.service_layer.messages import Decoded, Entry, decode
from licensing_contracts import DATA_FIELD

CLAIM: dict[str, Any] = {
    "command_id": "cmd-1",
    "type": "claim",
    "account_id": "acme",
    "actor": {"kind": "user", "id": "dana"},
    "organization_id": "o1",
    "product": "testops",
    "user_id": "dana",
}
STRANGE_CHARACTERS = '\ud800\udc00\x00\x1c\u2028\ufeff \t\n"\\é:'

texts = st.text(
    st.characters(exclude_categories=()) | st.sampled_from(STRANGE_CHARACTERS),
    max_size=12,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | texts,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(texts.filter(lambda k: k != "data"), inner, max_size=4)
    ),
    max_leaves=12,
)
claim_values = st.sampled_from(
    ["acme", "o1", "", "r" * 300, "reply stream", "a\x1cb", "x" * 129]
)
objects = st.dictionaries(
    texts.filter(lambda k: k != "data"), json_values, max_size=6
) | st.builds(
    lambda changes, dropped: {
        k: v for k, v in {**CLAIM, **changes}.items() if k not in dropped
    },
    st.dictionaries(
        st.sampled_from([*CLAIM, "reply_to", "quantity"]),
        json_values | claim_values,
        max_size=3,
    ),
    st.sets(st.sampled_from(list(CLAIM)), max_size=2),
)


def entry(raw: bytes) -> Entry:
    return Entry("licensing:commands:0", "1-0", {DATA_FIELD.encode(): raw})


def in_envelope(text: str) -> Entry:
    """The same text inside FastStream's JSON envelope: read by its parser."""
    return entry(json.dumps({"data": text, "headers": {}}).encode())


def seen(decoded: Decoded) -> tuple[Any, ...]:
    return (
        decoded.command,
        decoded.error,
        repr(decoded.document),
        decoded.command_id,
        decoded.account_id,
        decoded.reply_to,
        decoded.reply_channel,
        decoded.correlation_id,
    )


def assert_read_alike(text: str) -> Decoded:
    plain = decode(entry(text.encode()))
    assert seen(plain) == seen(decode(in_envelope(text)))
    return plain


class TestAPlainJsonEntry:
    @given(objects, st.booleans(), st.sampled_from(["", " ", "\n\t ", "\r\n"]))
    def test_any_object_is_read_as_through_the_envelope(
        self, document, ascii_only, space
    ):
        text = json.dumps(document, ensure_ascii=ascii_only)
        try:
            text.encode()
        except UnicodeEncodeError:
            text = json.dumps(document)
        text = space + text + space

        decoded = assert_read_alike(text)

        assert repr(decoded.document) == repr(json.loads(text))

    @given(
        st.integers(0, len(json.dumps(CLAIM))),
        st.integers(0, 3),
        st.text(st.sampled_from('{}[]",:\\ \x00ua0-.eE'), max_size=3),
    )
    def test_broken_text_is_read_as_through_the_envelope(self, at, cut, inserted):
        text = json.dumps(CLAIM)

        assert_read_alike(text[:at] + inserted + text[at + cut :])

    def test_a_valid_claim(self):
        decoded = assert_read_alike(json.dumps(CLAIM))

        assert decoded.command is not None
        assert decoded.command.type == "claim"
        assert decoded.error is None
        assert decoded.document == CLAIM

    def test_nested_deeper_than_the_fast_parser_goes(self):
        document = {**CLAIM, "extra": json.loads("[" * 400 + "]" * 400)}

        decoded = assert_read_alike(json.dumps(document))

        assert (
            decoded.error
            == "invalid command: claim.extra: Extra inputs are not permitted"
        )

    def test_lone_surrogates_and_special_numbers(self):
        text = json.dumps(CLAIM)[:-1] + ', "x": ["\\ud800", NaN, -Infinity, 1e400]}'

        decoded = assert_read_alike(text)

        assert decoded.document["x"][0] == "\ud800"

    def test_a_key_given_twice_keeps_its_last_value(self):
        text = json.dumps(CLAIM)[:-1] + ', "user_id": "eli"}'

        decoded = assert_read_alike(text)

        assert decoded.command is not None
        assert decoded.document["user_id"] == "eli"

    def test_a_byte_order_mark_is_not_json(self):
        decoded = decode(entry(b"\xef\xbb\xbf" + json.dumps(CLAIM).encode()))

        assert decoded.error is not None
        assert decoded.error.startswith("the entry is not JSON: Unexpected UTF-8 BOM")

    @pytest.mark.parametrize("bad", [b"\xff", b"\xed\xa0\x80", b"\xc0\xaf"])
    def test_invalid_utf8_in_a_string_is_not_utf8_text(self, bad):
        raw = json.dumps(CLAIM).encode().replace(b"dana", b"d" + bad + b"na", 1)

        assert decode(entry(raw)).error == "the entry is not UTF-8 text"


class TestAFastStreamJsonEnvelope:
    def test_is_unwrapped_with_its_headers(self):
        headers = {"reply_to": "answers", "correlation_id": "c-1"}
        raw = json.dumps({"data": json.dumps(CLAIM), "headers": headers}).encode()

        decoded = decode(entry(raw))

        assert decoded.command is not None
        assert decoded.reply_channel == "answers"
        assert decoded.correlation_id == "c-1"
        assert decoded.document == CLAIM

    def test_in_utf16_is_unwrapped_as_faststream_does(self):
        raw = json.dumps({"data": json.dumps(CLAIM)}).encode("utf-16-le")

        decoded = decode(entry(raw))

        assert decoded.command is not None
        assert decoded.document == CLAIM

    def test_a_data_field_that_is_not_text_is_part_of_the_command(self):
        decoded = decode(entry(json.dumps({**CLAIM, "data": 5}).encode()))

        assert decoded.command_id == "cmd-1"
        assert (
            decoded.error
            == "invalid command: claim.data: Extra inputs are not permitted"
        )


class TestEntriesNoParserCanRead:
    """What no JSON parser reads is answered as unreadable: it never stops the
    partition by raising."""

    def test_nesting_past_the_interpreter_s_recursion_limit(self):
        decoded = decode(entry(b"[" * 100_000 + b"]" * 100_000))

        assert decoded.command is None
        assert decoded.error == "the entry is not readable JSON: nested too deeply"

    def test_an_integer_with_more_digits_than_python_converts(self):
        decoded = decode(entry(b'{"command_id": "c", "n": ' + b"7" * 5000 + b"}"))

        assert decoded.command is None
        assert decoded.error is not None
        assert decoded.error.startswith("the entry is not readable JSON: ")
