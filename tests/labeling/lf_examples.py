"""Python labeling functions that the stored-matrix tests import by module path."""

from __future__ import annotations

from llmloop.labeling import labeling_function
from llmloop.records import Record


@labeling_function()
def shouting(record: Record) -> str | None:
    return "spam" if str(record.inputs.get("text", "")).isupper() else None


@labeling_function()
def fragile(record: Record) -> str | None:
    """Fails on records whose text mentions 'boom': it abstains there and is counted."""
    text = str(record.inputs.get("text", ""))
    if "boom" in text:
        raise RuntimeError("cannot read this one")
    return "ham" if "meeting" in text else None


lfs = [shouting, fragile]
not_functions = ["just a string"]
