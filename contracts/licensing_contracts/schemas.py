"""JSON Schemas of the wire documents, as kept in ``contracts/schemas``."""

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from .commands import command_adapter
from .events import dead_letter_adapter, event_adapter
from .outcomes import outcome_adapter

DOCUMENTS: dict[str, TypeAdapter[Any]] = {
    "command": command_adapter,
    "outcome": outcome_adapter,
    "event": event_adapter,
    "dead-letter": dead_letter_adapter,
}


def render() -> dict[str, str]:
    """File name to JSON text of every document's schema."""
    return {
        f"{name}.schema.json": json.dumps(
            adapter.json_schema(mode="validation"), indent=2, sort_keys=True
        )
        + "\n"
        for name, adapter in DOCUMENTS.items()
    }


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written
