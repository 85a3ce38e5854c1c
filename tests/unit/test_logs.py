"""The JSON log line, written the quick way, is the line written the plain way:
same keys in the same order, same values, the time in UTC to the millisecond."""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from licensing import logs
from licensing.logs import CONTEXT_FIELDS, JsonFormatter

values = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
timestamps = st.floats(min_value=0, max_value=4_102_444_800) | st.integers(
    1_600_000_000, 1_900_000_000
).flatmap(
    lambda second: st.sampled_from(
        [0.0, 0.0005, 0.0004999, 0.9994999, 0.9995, 0.9999994, 0.9999995, 0.999999]
    ).map(lambda fraction: second + fraction)
)


def record(created: float, extra: dict[str, Any], message: str = "command %s") -> Any:
    made = logging.LogRecord(
        "licensing", logging.INFO, __file__, 1, message, ("accepted",), None
    )
    made.created = created
    made.__dict__.update(extra)
    return made


def plain_line(made: logging.LogRecord) -> str:
    line = {
        "time": datetime.fromtimestamp(made.created, UTC).isoformat(
            timespec="milliseconds"
        ),
        "level": made.levelname.lower(),
        "logger": made.name,
        "message": made.getMessage(),
        **{k: getattr(made, k) for k in CONTEXT_FIELDS if hasattr(made, k)},
    }
    if made.exc_info:
        line["exception"] = logging.Formatter().formatException(made.exc_info)
    return json.dumps(line, default=str)


class TestTheJsonLine:
    @given(
        st.lists(timestamps, min_size=1, max_size=4),
        st.dictionaries(st.sampled_from(CONTEXT_FIELDS), values),
    )
    def test_is_the_plain_line(self, times, extra):
        formatter = JsonFormatter()

        for created in times:
            made = record(created, extra)
            assert formatter.format(made) == plain_line(made)

    def test_shows_the_report_of_a_command(self):
        extra = {
            "partition": 3,
            "epoch": 17,
            "command_id": "cmd-1",
            "account_id": "acme",
            "command_type": "claim",
            "outcome": "accepted",
            "reason": None,
            "duration_ms": 12.34,
            "entry_id": "1733250000000-0",
            "error": ValueError("not JSON"),
        }
        made = record(1_733_250_000.9996, extra)

        line = JsonFormatter().format(made)

        assert line == plain_line(made)
        assert json.loads(line)["time"] == "2024-12-03T18:20:00.999+00:00"
        assert list(json.loads(line)) == [
            "time",
            "level",
            "logger",
            "message",
            *(k for k in CONTEXT_FIELDS if k in extra),
        ]

    def test_with_an_exception(self):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            made = record(1_733_250_000.5, {"command_id": "c"})
            made.exc_info = sys.exc_info()

        assert JsonFormatter().format(made) == plain_line(made)


class TestConfigure:
    @pytest.fixture
    def restored(self, monkeypatch):
        for flag in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
            monkeypatch.setattr(logging, flag, getattr(logging, flag))
        monkeypatch.setattr(logs.logger, "handlers", [])
        monkeypatch.setattr(logs.logger, "propagate", logs.logger.propagate)
        level = logs.logger.level
        yield
        logs.logger.setLevel(level)

    @pytest.mark.usefixtures("restored")
    def test_records_skip_what_no_line_shows_and_lines_stay_whole(self, capsys):
        logs.configure("json")

        logs.logger.info("command %s", "accepted", extra={"command_id": "c-9"})

        line = json.loads(capsys.readouterr().err)
        assert line["message"] == "command accepted"
        assert line["command_id"] == "c-9"
        assert not logging.logThreads
        assert not logging.logProcesses
        assert not logging.logMultiprocessing
