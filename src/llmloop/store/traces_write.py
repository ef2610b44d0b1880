"""The lean write path of :mod:`llmloop.store.traces`: plain SQL, tuples, one pass.

Span ingestion is the hottest write in the product, so it skips SQLAlchemy's per-row
parameter processing: the statements are built once per dialect and executed with
plain tuples through the DB-API cursor (``executemany``). Values are serialised as
the column types read them back (JSON text, by orjson; ``UtcDateTime``: UTC, on
SQLite as SQLAlchemy's ``YYYY-MM-DD HH:MM:SS.ffffff`` text), so the read path sees
no difference. Summaries of traces new to the store are computed from the batch in
memory (:func:`summarise`), with the same rules as the SQL aggregate they replace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from llmloop.store.traces_types import Span

SPAN_COLUMNS = (
    "project_id", "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time",
    "end_time", "duration_ms", "status", "status_message", "service", "model", "provider",
    "input_tokens", "output_tokens", "cost_usd", "user_id", "session_id", "tags", "inputs",
    "outputs", "attributes", "events", "flags",
)  # fmt: skip
TRACE_COLUMNS = (
    "project_id", "trace_id", "name", "start_time", "end_time", "duration_ms", "status",
    "service", "model", "user_id", "session_id", "span_count", "error_count",
    "input_tokens", "output_tokens", "cost_usd",
)  # fmt: skip


def _placeholder(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


@cache
def _statements(mark: str) -> tuple[str, str, str]:
    """(spans insert, trace_tags insert, traces upsert) for one placeholder style."""

    def values(n: int) -> str:
        return "(" + ", ".join([mark] * n) + ")"

    span_sql = (
        f"INSERT INTO spans ({', '.join(SPAN_COLUMNS)}) VALUES {values(len(SPAN_COLUMNS))} "
        "ON CONFLICT (project_id, trace_id, span_id) DO NOTHING"
    )
    tag_sql = (
        f"INSERT INTO trace_tags (project_id, tag, trace_id) VALUES {values(3)} "
        "ON CONFLICT (project_id, tag, trace_id) DO NOTHING"
    )
    updates = ", ".join(f"{c} = excluded.{c}" for c in TRACE_COLUMNS[2:])
    trace_sql = (
        f"INSERT INTO traces ({', '.join(TRACE_COLUMNS)}) VALUES {values(len(TRACE_COLUMNS))} "
        f"ON CONFLICT (project_id, trace_id) DO UPDATE SET {updates}"
    )
    return span_sql, tag_sql, trace_sql


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
    return value if value.utcoffset() == _ZERO else value.astimezone(UTC)


_ZERO = datetime(2000, 1, 1, tzinfo=UTC).utcoffset()


def _sqlite_time(value: datetime) -> str:
    """What SQLAlchemy's SQLite DATETIME stores for the UTC value (microseconds always)."""
    if value.tzinfo is UTC:  # the decoder's values: cut "+00:00" instead of converting
        return value.isoformat(" ", "microseconds")[:26]
    return _utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _time_writer(conn: Connection) -> Callable[[datetime], Any]:
    return _sqlite_time if conn.dialect.name == "sqlite" else _utc


_SLOW_JSON = json.JSONEncoder(ensure_ascii=False, default=str).encode
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def _dumps(value: Any) -> str:
    """JSON text, non-ASCII kept as is; orjson, or the stdlib for what orjson refuses
    (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return _SLOW_JSON(value)


def _json(value: Any) -> str:
    return _dumps(value) if value else ("[]" if isinstance(value, list) else _dumps(value))


def _text(value: Any) -> str | None:
    return None if value is None else _dumps(value)


def _span_tuple(project_id: str, s: Span, time: Callable[[datetime], Any]) -> tuple[Any, ...]:
    return (
        project_id, s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind,
        time(s.start_time), time(s.end_time), s.duration_ms, s.status, s.status_message,
        s.service, s.model, s.provider, s.input_tokens, s.output_tokens, s.cost_usd,
        s.user_id, s.session_id, _json(s.tags), _text(s.inputs), _text(s.outputs),
        _json(s.attributes), _json(s.events), _json(s.flags),
    )  # fmt: skip


def insert_spans(conn: Connection, project_id: str, items: Sequence[Span]) -> None:
    """Insert ``items`` and their tags; a span already stored is left as it is."""
    span_sql, tag_sql, _ = _statements(_placeholder(conn))
    time = _time_writer(conn)
    conn.exec_driver_sql(span_sql, [_span_tuple(project_id, s, time) for s in items])
    tags = sorted({(t, s.trace_id) for s in items for t in s.tags})
    if tags:
        conn.exec_driver_sql(tag_sql, [(project_id, t, i) for t, i in tags])


def upsert_summaries(conn: Connection, project_id: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Write summary rows (in :data:`TRACE_COLUMNS` order, without ``project_id``)."""
    _, _, trace_sql = _statements(_placeholder(conn))
    time = _time_writer(conn)
    params = [(project_id, r[0], r[1], time(r[2]), time(r[3]), *r[4:]) for r in rows]
    if params:
        conn.exec_driver_sql(trace_sql, params)


_MICROSECOND = timedelta(microseconds=1)


def duration_ms(start: datetime, end: datetime) -> float:
    """Milliseconds from ``start`` to ``end`` (0 if before), exact for whole microseconds."""
    return max(0.0, (end - start) / _MICROSECOND / 1000)


def _largest(values: Iterable[str | None]) -> str | None:
    return max((v for v in values if v is not None), default=None)


def _summary(group: list[Span]) -> tuple[Any, ...]:
    start = min(s.start_time for s in group)
    end = max(s.end_time for s in group)
    earliest = group[0]
    for s in group:  # ties: the last one wins, as the recompute from stored spans does
        if s.start_time <= earliest.start_time:
            earliest = s
    roots = [s for s in group if s.parent_span_id is None]
    name = min(roots, key=lambda s: s.start_time).name if roots else earliest.name
    errors = sum(1 for s in group if s.status == "error")
    costs = [s.cost_usd for s in group if s.cost_usd is not None]
    return (
        group[0].trace_id, name, start, end,
        duration_ms(start, end), "error" if errors else "ok",
        _largest(s.service for s in group), _largest(s.model for s in group),
        _largest(s.user_id for s in group), _largest(s.session_id for s in group),
        len(group), errors, sum(s.input_tokens for s in group),
        sum(s.output_tokens for s in group), sum(costs) if costs else None,
    )  # fmt: skip


def summarise(items: Sequence[Span], trace_ids: set[str]) -> list[tuple[Any, ...]]:
    """Summary rows of the traces in ``trace_ids`` from ``items`` alone.

    Only valid for traces with no stored spans: then the spans stored for them are
    exactly the first occurrence of each span id in ``items``.
    """
    groups: dict[str, list[Span]] = {}
    seen: set[tuple[str, str]] = set()
    for s in items:
        key = (s.trace_id, s.span_id)
        if s.trace_id in trace_ids and key not in seen:
            seen.add(key)
            groups.setdefault(s.trace_id, []).append(s)
    return [_summary(group) for group in groups.values()]
