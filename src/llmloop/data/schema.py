"""Field schema inferred from records: keys, value types, slice value counts."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from llmloop.records import Record
from llmloop.store.datasets import DatasetSchema, FieldInfo

MAX_SLICE_VALUES = 50
"""A metadata or expectation key with more distinct values than this is not a slice."""

PARTS = ("inputs", "outputs", "expectations", "metadata")


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def slice_value(value: Any) -> str | None:
    """The text a value is counted under in slice distributions, or None if unsliceable."""
    if value is None or isinstance(value, list | tuple | Mapping):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def infer_schema(records: Iterable[Record]) -> DatasetSchema:
    """Keys and types of every part, and value counts of the slice-like keys.

    Slices are the metadata and expectation keys with scalar values and at most
    :data:`MAX_SLICE_VALUES` distinct ones; expectation slices are prefixed
    ``expectations.`` so a label distribution sits beside ``language`` or ``domain``.
    """
    present: dict[str, Counter[str]] = {part: Counter() for part in PARTS}
    types: dict[str, dict[str, Counter[str]]] = {part: defaultdict(Counter) for part in PARTS}
    values: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        for part in PARTS:
            content = getattr(record, part) or {}
            for key, value in content.items():
                present[part][key] += 1
                types[part][key][type_name(value)] += 1
                if part in ("metadata", "expectations"):
                    text = slice_value(value)
                    if text is not None:
                        name = key if part == "metadata" else f"expectations.{key}"
                        values[name][text] += 1
    fields = {
        part: {
            key: FieldInfo(present=present[part][key], types=dict(types[part][key]))
            for key in sorted(present[part])
        }
        for part in PARTS
    }
    slices = {
        name: dict(counts.most_common())
        for name, counts in sorted(values.items())
        if len(counts) <= MAX_SLICE_VALUES
    }
    return DatasetSchema(**fields, slices=slices)
