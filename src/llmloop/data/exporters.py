"""Writing records out: JSONL (one record per line) and Parquet (one column per field).

Parquet columns are named like the import convention (``id``, ``inputs.x``,
``outputs.x``, ``expectations.x``, ``metadata.x``), so an exported file imports back to
the same records. A column whose values do not share one Arrow type holds JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from llmloop.errors import ValidationError
from llmloop.records import Record

try:  # Parquet is the optional 'parquet' extra
    import pyarrow as pa
    import pyarrow.parquet as pq
except ModuleNotFoundError:  # pragma: no cover - exercised only without the extra
    pa = pq = None


PARTS = ("inputs", "outputs", "expectations", "metadata")


def to_jsonl(records: Iterable[Record]) -> bytes:
    lines = (record.model_dump_json() for record in records)
    return "".join(line + "\n" for line in lines).encode()


def flat_columns(records: Sequence[Record]) -> dict[str, list[Any]]:
    """Column name -> one value per record (None where a record lacks the key)."""
    names: dict[str, None] = {"id": None}
    for record in records:
        for part in PARTS:
            names.update(dict.fromkeys(f"{part}.{key}" for key in (getattr(record, part) or {})))
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for record in records:
        columns["id"].append(record.id)
        for name in list(names)[1:]:
            part, _, key = name.partition(".")
            columns[name].append((getattr(record, part) or {}).get(key))
    return columns


def _array(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in values])


def to_parquet(records: Sequence[Record]) -> bytes:
    _need_arrow()
    columns = flat_columns(records)
    table = pa.table({name: _array(values) for name, values in columns.items()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def _need_arrow() -> None:
    if pa is None:
        raise ValidationError(
            "Parquet needs pyarrow: pip install 'llmloop[parquet]' (CSV and JSONL work without)"
        )
