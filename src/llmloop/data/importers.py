"""Reading records from CSV, JSONL, Parquet and pandas, with a column mapping.

Reading never writes: it returns the records it could build and a report of every row it
skipped and why. Problems with the whole file (missing columns, wrong encoding, not a
Parquet file) raise :class:`~llmloop.errors.ValidationError` so nothing is imported.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal

import pandas as pd
import pydantic
from pydantic import Field

from llmloop.errors import ValidationError
from llmloop.records import Frozen, Record, RecordSource

try:  # Parquet is the optional 'parquet' extra
    import pyarrow as pa
    import pyarrow.parquet as pq
except ModuleNotFoundError:  # pragma: no cover - exercised only without the extra
    pa = pq = None


FileFormat = Literal["csv", "jsonl", "parquet"]
OnError = Literal["skip", "fail"]
PREFIXES = {
    "inputs.": "inputs",
    "input.": "inputs",
    "outputs.": "outputs",
    "output.": "outputs",
    "expectations.": "expectations",
    "expected.": "expectations",
    "metadata.": "metadata",
}


class ColumnMapping(Frozen):
    """Which columns become inputs, outputs, expectations and metadata of each record.

    Left empty, the columns' names decide: ``id`` is the record id, ``inputs.x`` /
    ``outputs.x`` / ``expectations.x`` / ``metadata.x`` go to that part under ``x``, and
    every other column is an input.
    """

    id: str | None = None
    inputs: list[str] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    expectations: list[str] = Field(default_factory=list)
    metadata: list[str] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.id or self.inputs or self.outputs or self.expectations or self.metadata)

    def columns(self) -> list[str]:
        named = [*self.inputs, *self.outputs, *self.expectations, *self.metadata]
        return ([self.id] if self.id else []) + named

    def resolve(self, header: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Column -> (part, key) for this header; ValidationError naming missing columns."""
        if self.empty:
            return {column: _by_name(column) for column in header}
        repeated = sorted({c for c in self.columns() if self.columns().count(c) > 1})
        if repeated:
            raise ValidationError(
                f"the mapping names the column(s) {repeated} more than once; give each column "
                "one part (id, inputs, outputs, expectations or metadata)"
            )
        missing = [c for c in self.columns() if c not in header]
        if missing:
            raise ValidationError(
                f"the file has no column {', '.join(repr(c) for c in missing)}; "
                f"its columns are {', '.join(repr(c) for c in header)}",
                details=[{"field": "mapping", "missing": missing, "columns": list(header)}],
            )
        plan = {self.id: ("id", "id")} if self.id else {}
        for part in ("inputs", "outputs", "expectations", "metadata"):
            plan.update({c: (part, c) for c in getattr(self, part)})
        return plan


def _by_name(column: str) -> tuple[str, str]:
    if column == "id":
        return "id", "id"
    for prefix, part in PREFIXES.items():
        if column.startswith(prefix) and len(column) > len(prefix):
            return part, column[len(prefix) :]
    return "inputs", column


class SkippedRow(Frozen):
    row: int = Field(description="1-based row of data (line number for JSONL).")
    reason: str
    record_id: str | None = None


class ImportReport(Frozen):
    format: str
    rows_read: int
    imported: int
    skipped: list[SkippedRow] = Field(default_factory=list)
    columns: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ImportResult:
    records: list[Record]
    report: ImportReport

    def raise_if_skipped(self) -> None:
        """For ``on_error="fail"``: refuse the whole import when any row was skipped."""
        if self.report.skipped:
            first = self.report.skipped[0]
            raise ValidationError(
                f"{len(self.report.skipped)} of {self.report.rows_read} rows cannot be imported "
                f"(row {first.row}: {first.reason}); nothing was imported",
                details=self.report.model_dump(mode="json"),
            )


# --------------------------------------------------------------------------- formats


def read_file(
    data: bytes,
    fmt: FileFormat,
    mapping: ColumnMapping | None = None,
    *,
    encoding: str = "utf-8",
    on_error: OnError = "skip",
) -> ImportResult:
    """Records from a file's bytes in ``fmt``."""
    mapping = mapping or ColumnMapping()
    if fmt == "csv":
        result = read_csv(data, mapping, encoding=encoding)
    elif fmt == "jsonl":
        result = read_jsonl(data, mapping, encoding=encoding)
    elif fmt == "parquet":
        result = read_parquet(data, mapping)
    else:
        raise ValidationError(f"unknown format {fmt!r}; use csv, jsonl or parquet")
    if on_error == "fail":
        result.raise_if_skipped()
    return result


def decode(data: bytes, encoding: str) -> str:
    """Text of ``data``; a ValidationError naming the byte and line when it is not valid."""
    try:
        codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        return data.decode(codec)
    except LookupError:
        raise ValidationError(f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(
            f"the file is not valid {encoding}: byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start} (line {line}); re-save it as {encoding} or pass its encoding "
            "(e.g. encoding=latin-1); nothing was imported"
        ) from None


def read_csv(data: bytes, mapping: ColumnMapping, *, encoding: str = "utf-8") -> ImportResult:
    text = decode(data, encoding)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ValidationError(f"the file is not valid CSV: {exc}; nothing was imported") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ValidationError("the CSV file has no header row; nothing was imported")
    header = [cell.strip() for cell in rows[0]]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise ValidationError(f"the CSV header repeats the column(s) {duplicated}")
    body = rows[1:]
    text_columns = {"id", mapping.id}
    converters = [
        str if name in text_columns else _column_converter(r[i] if i < len(r) else "" for r in body)
        for i, name in enumerate(header)
    ]
    numbered = (
        (n, _typed_cells(header, converters, row), len(row)) for n, row in enumerate(body, start=1)
    )
    return build_records(_check_widths(numbered, len(header)), header, mapping, "csv")


def _typed_cells(
    header: Sequence[str], converters: Sequence[Any], row: Sequence[str]
) -> dict[str, Any]:
    """The row's non-empty cells by column name, converted to their column's type."""
    width = min(len(header), len(row))
    return {header[i]: converters[i](row[i]) for i in range(width) if row[i] != ""}


def _check_widths(
    rows: Iterable[tuple[int, dict[str, Any], int]], width: int
) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for n, values, cells in rows:
        if cells > width:
            yield n, f"row has {cells} cells but the header has {width} columns"
        else:
            yield n, values


def read_jsonl(data: bytes, mapping: ColumnMapping, *, encoding: str = "utf-8") -> ImportResult:
    lines = decode(data, encoding).splitlines()
    parsed: list[tuple[int, dict[str, Any] | str]] = []
    header: dict[str, None] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            parsed.append((n, {}))
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.append((n, f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(value, dict):
            parsed.append((n, f"line is a JSON {type(value).__name__}, not an object"))
            continue
        header.update(dict.fromkeys(value))
        parsed.append((n, value))
    return build_records(parsed, list(header), mapping, "jsonl")


def read_parquet(data: bytes, mapping: ColumnMapping) -> ImportResult:
    _need_arrow()
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationError(f"the file is not a readable Parquet file: {exc}") from None
    rows = table.to_pylist()
    numbered = ((n, _drop_nulls(row)) for n, row in enumerate(rows, start=1))
    return build_records(numbered, table.column_names, mapping, "parquet")


def from_pandas(frame: pd.DataFrame, mapping: ColumnMapping | None = None) -> ImportResult:
    """Records from a DataFrame, one per row; NaN and None cells are left out."""
    header = [str(c) for c in frame.columns]
    rows = frame.to_dict(orient="records")
    numbered = (
        (n, _drop_nulls({str(k): v for k, v in row.items()})) for n, row in enumerate(rows, start=1)
    )
    return build_records(numbered, header, mapping or ColumnMapping(), "pandas")


def from_records(records: Iterable[Record | Mapping[str, Any]]) -> ImportResult:
    """Validate records (or dicts shaped like them), skipping invalid ones and duplicate ids."""
    builder = _Builder("records")
    for n, item in enumerate(records, start=1):
        try:
            record = item if isinstance(item, Record) else Record.model_validate(item)
        except pydantic.ValidationError as exc:
            builder.skip(n, _pydantic_reason(exc))
            continue
        builder.add(n, record, explicit_id=True)
    return builder.result([])


# --------------------------------------------------------------------------- building


def build_records(
    rows: Iterable[tuple[int, dict[str, Any] | str]],
    header: Sequence[str],
    mapping: ColumnMapping,
    fmt: str,
) -> ImportResult:
    """Records from numbered rows (a string instead of a row is why it was unreadable)."""
    plan = mapping.resolve(header)
    builder = _Builder(fmt)
    for n, row in rows:
        if isinstance(row, str):
            builder.skip(n, row)
            continue
        if not any(_present(v) for v in row.values()):
            builder.skip(n, "empty row")
            continue
        if fmt == "jsonl" and mapping.empty and isinstance(row.get("inputs"), dict):
            try:
                record = Record.model_validate({**row, "source": row.get("source", _IMPORT)})
            except pydantic.ValidationError as exc:
                builder.skip(n, _pydantic_reason(exc))
                continue
            builder.add(n, record, explicit_id="id" in row)
            continue
        builder.add_row(n, row, plan)
    return builder.result(list(header))


_IMPORT = {"kind": "import"}


class _Builder:
    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.records: list[Record] = []
        self.skipped: list[SkippedRow] = []
        self.rows = 0
        self.seen: dict[str, int] = {}

    def skip(self, n: int, reason: str, record_id: str | None = None) -> None:
        self.rows += 1
        self.skipped.append(SkippedRow(row=n, reason=reason, record_id=record_id))

    def add_row(self, n: int, row: Mapping[str, Any], plan: Mapping[str, tuple[str, str]]) -> None:
        parts: dict[str, dict[str, Any]] = {
            "inputs": {},
            "outputs": {},
            "expectations": {},
            "metadata": {},
        }
        record_id: str | None = None
        for column, (part, key) in plan.items():
            value = row.get(column)
            if not _present(value):
                continue
            if part == "id":
                record_id = str(value).strip()
            else:
                parts[part][key] = _json_safe(value)
        if not parts["inputs"]:
            self.skip(n, "no input values", record_id)
            return
        fields: dict[str, Any] = {
            "inputs": parts["inputs"],
            "outputs": parts["outputs"] or None,
            "expectations": parts["expectations"] or None,
            "metadata": parts["metadata"],
            "source": RecordSource(kind="import", ref=self.fmt),
        }
        if record_id:
            fields["id"] = record_id
        try:
            record = Record(**fields)
        except pydantic.ValidationError as exc:
            self.skip(n, _pydantic_reason(exc), record_id)
            return
        self.add(n, record, explicit_id=record_id is not None)

    def add(self, n: int, record: Record, *, explicit_id: bool) -> None:
        if not explicit_id:
            record = record.model_copy(update={"id": self._content_id(record)})
        if record.id in self.seen:
            self.skip(
                n, f"duplicate id {record.id!r} (first on row {self.seen[record.id]})", record.id
            )
            return
        self.rows += 1
        self.seen[record.id] = n
        self.records.append(record)

    def _content_id(self, record: Record) -> str:
        """A stable id from the content, so re-importing a file keeps its records' ids."""
        base = "rec_" + record.content_hash()[:24]
        candidate, k = base, 1
        while candidate in self.seen:
            k += 1
            candidate = f"{base}_{k}"
        return candidate

    def result(self, columns: list[str]) -> ImportResult:
        report = ImportReport(
            format=self.fmt,
            rows_read=self.rows,
            imported=len(self.records),
            skipped=self.skipped,
            columns=columns,
        )
        return ImportResult(self.records, report)


# --------------------------------------------------------------------------- values


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return not (isinstance(value, str) and not value.strip())


def _drop_nulls(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if _present(v)}


def _json_safe(value: Any) -> Any:
    """Plain JSON values: numpy scalars, decimals, dates and arrays converted."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        try:
            value = value.item()
        except (ValueError, TypeError):
            value = value.tolist()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _column_converter(cells: Iterable[str]) -> Any:
    """int, float or bool when every non-empty cell of a CSV column parses as one; else str."""
    values = [c for c in cells if c != ""]
    if not values:
        return str
    if all(_parses(int, v) and "_" not in v for v in values):
        return int
    if all(_parses(float, v) for v in values):
        return float
    if all(v.lower() in ("true", "false") for v in values):
        return lambda v: v.lower() == "true"
    return str


def _parses(kind: type, value: str) -> bool:
    try:
        kind(value)
    except ValueError:
        return False
    return not (kind is float and value.strip().lower() in ("nan", "inf", "-inf", "infinity"))


def _pydantic_reason(exc: pydantic.ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "record"
    return f"{where}: {first['msg']}"


def _need_arrow() -> None:
    if pa is None:
        raise ValidationError(
            "Parquet needs pyarrow: pip install 'llmloop[parquet]' (CSV and JSONL work without)"
        )
