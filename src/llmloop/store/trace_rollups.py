"""Hourly rollups of trace summaries, kept in step with ``traces`` and read by the stats.

``trace_rollups`` holds, per project, UTC hour, trace name, model, status and latency
bucket, the number of traces and their token and cost sums. Every change to a trace
summary row (a new trace, a trace refreshed by late spans, a trace pruned) is applied
to the rollups in the same transaction as a signed delta (``+1`` for the new version,
``-1`` for the old one), so a rollup hour always equals the raw rows of that hour.

Latencies are kept as a histogram with fixed logarithmic buckets: bucket 0 holds
durations under :data:`MIN_MS`; bucket ``k >= 1`` holds ``[MIN_MS·G^(k-1), MIN_MS·G^k)``
with ``G = 2^(1/8)``. A percentile read from it is the nearest-rank bucket's geometric
middle, clamped to the smallest and largest duration seen in that bucket, so its
relative error is at most ``sqrt(G) - 1`` (:data:`RELATIVE_ERROR`, 4.4 %), and it is
exact when the bucket holds one distinct value. (Bucket minima and maxima only widen,
never shrink, when traces leave; they stay inside the bucket, so the bound holds.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    case,
    func,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import null

from llmloop.store.schema import UtcDateTime, metadata
from llmloop.store.trace_stats_types import TraceStatsQuery

MIN_MS = 0.01
STEPS_PER_DOUBLING = 8
GROWTH = 2 ** (1 / STEPS_PER_DOUBLING)
RELATIVE_ERROR = math.sqrt(GROWTH) - 1
MAX_BUCKET = 1 + STEPS_PER_DOUBLING * 40  # 0.01 ms · 2^40 ≈ 127 days
NO_MIN, NO_MAX = 1e300, -1.0  # a removal leaves the bucket's bounds as they are

trace_rollups = Table(
    "trace_rollups",
    metadata,
    Column(
        "project_id",
        String(64),
        ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("hour", UtcDateTime, nullable=False),
    Column("name", Text, nullable=False),
    Column("model", Text, nullable=False),  # '' when the trace has no model
    Column("status", String(8), nullable=False),
    Column("latency_bucket", Integer, nullable=False),
    Column("trace_count", Integer, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("cost_count", Integer, nullable=False),  # traces with a known cost
    Column("min_ms", Float, nullable=False),
    Column("max_ms", Float, nullable=False),
    PrimaryKeyConstraint(
        "project_id", "hour", "name", "model", "status", "latency_bucket", name="pk_trace_rollups"
    ),
)

KEY_COLUMNS = ("project_id", "hour", "name", "model", "status", "latency_bucket")
SUM_COLUMNS = ("trace_count", "input_tokens", "output_tokens", "cost_usd", "cost_count")


def bucket_of(duration_ms: float) -> int:
    if duration_ms < MIN_MS:
        return 0
    k = 1 + int(math.log2(duration_ms / MIN_MS) * STEPS_PER_DOUBLING)
    return min(k, MAX_BUCKET)


def bucket_bounds(k: int) -> tuple[float, float]:
    if k <= 0:
        return 0.0, MIN_MS
    return MIN_MS * GROWTH ** (k - 1), MIN_MS * GROWTH**k


def hour_of(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Summary:
    """What a trace contributes to the rollups (a ``traces`` row, reduced)."""

    start_time: datetime
    name: str
    model: str | None
    status: str
    duration_ms: float
    input_tokens: int
    output_tokens: int
    cost_usd: float | None


Delta = list[float]  # count, input, output, cost, cost count, min, max


def deltas(
    added: Iterable[Summary], removed: Iterable[Summary] = ()
) -> dict[tuple[Any, ...], Delta]:
    """Signed changes per rollup key; changes that cancel out are dropped."""
    out: dict[tuple[Any, ...], Delta] = {}
    for sign, summaries in ((1, added), (-1, removed)):
        for s in summaries:
            key = (hour_of(s.start_time), s.name, s.model or "", s.status, bucket_of(s.duration_ms))
            d = out.get(key)
            if d is None:
                d = out[key] = [0, 0, 0, 0.0, 0, NO_MIN, NO_MAX]
            d[0] += sign
            d[1] += sign * s.input_tokens
            d[2] += sign * s.output_tokens
            if s.cost_usd is not None:
                d[3] += sign * s.cost_usd
                d[4] += sign
            if sign > 0:
                d[5] = min(d[5], s.duration_ms)
                d[6] = max(d[6], s.duration_ms)
    return {k: d for k, d in out.items() if any(d[:5]) or d[5] != NO_MIN}


@cache
def _upsert_sql(dialect: str) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    columns = (*KEY_COLUMNS, *SUM_COLUMNS, "min_ms", "max_ms")
    low, high = ("min", "max") if dialect == "sqlite" else ("least", "greatest")
    sums = ", ".join(f"{c} = trace_rollups.{c} + excluded.{c}" for c in SUM_COLUMNS)
    return (
        f"INSERT INTO trace_rollups ({', '.join(columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET {sums}, "
        f"min_ms = {low}(trace_rollups.min_ms, excluded.min_ms), "
        f"max_ms = {high}(trace_rollups.max_ms, excluded.max_ms)"
    )


def apply(conn: Connection, project_id: str, changes: dict[tuple[Any, ...], Delta]) -> None:
    """Add ``changes`` (from :func:`deltas`) to the rollups, in the caller's transaction."""
    if not changes:
        return
    dialect = conn.dialect.name
    sqlite = dialect == "sqlite"
    rows = []
    for (hour, name, model, status, bucket), d in sorted(changes.items()):
        when = hour.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else hour
        rows.append((project_id, when, name, model, status, bucket, int(d[0]), int(d[1]),
                     int(d[2]), d[3], int(d[4]), d[5], d[6]))  # fmt: skip
    conn.exec_driver_sql(_upsert_sql(dialect), rows)


# ---------------------------------------------------------------------- reading


@dataclass
class Cell:
    """One (time bucket, group) of a stats answer, accumulated from rollups or raw rows."""

    count: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    cost_count: int = 0
    histogram: dict[int, list[float]] = field(default_factory=dict)  # bucket: n, min, max

    def add_rollup(self, r: Any) -> None:
        self.count += int(r.n)
        self.errors += int(r.errors or 0)
        self.input_tokens += int(r.input_tokens or 0)
        self.output_tokens += int(r.output_tokens or 0)
        self.cost += float(r.cost or 0.0)
        self.cost_count += int(r.cost_count or 0)
        self._bucket(int(r.lb), int(r.n), float(r.min_ms), float(r.max_ms))

    def add_trace(self, duration: float, error: bool, tokens: tuple[int, int], cost: Any) -> None:
        self.count += 1
        self.errors += 1 if error else 0
        self.input_tokens += tokens[0]
        self.output_tokens += tokens[1]
        if cost is not None:
            self.cost += float(cost)
            self.cost_count += 1
        self._bucket(bucket_of(duration), 1, duration, duration)

    def _bucket(self, k: int, n: int, low: float, high: float) -> None:
        slot = self.histogram.get(k)
        if slot is None:
            self.histogram[k] = [n, low, high]
        else:
            slot[0] += n
            slot[1] = min(slot[1], low)
            slot[2] = max(slot[2], high)

    def percentile(self, p: int) -> float:
        """Nearest-rank percentile estimated from the histogram (see the module doc)."""
        rank = max(1, -(-p * self.count // 100))
        seen = 0
        for k in sorted(self.histogram):
            count, low, high = self.histogram[k]
            n = int(count)
            if n <= 0:
                continue
            if seen + n >= rank:
                lo, hi = bucket_bounds(k)
                if low > high:  # bounds unknown (only removals seen): the bucket's middle
                    return math.sqrt(lo * hi) if k else lo
                middle = math.sqrt(lo * hi) if k else (lo + hi) / 2
                return min(max(middle, low), high)
            seen += n
        return 0.0


def bucket_start(value: Any) -> datetime:
    """A bucket label as SQL gives it (text on SQLite, naive or aware timestamp) in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Hours = tuple[datetime | None, datetime | None]
Edges = list[tuple[datetime | None, datetime | None]]


def plan(query: TraceStatsQuery) -> tuple[Hours | None, Edges] | None:
    """Whole hours to read from the rollups and the partial ones to read raw; None when
    the rollups cannot answer (minute buckets, tags, text search)."""
    if query.bucket == "minute" or query.tags or query.text or query.group_by == "tag":
        return None
    since, until = query.since, query.until
    first = None if since is None else _ceil_hour(since)
    last = None if until is None else hour_of(until)
    if first is not None and last is not None and first >= last:
        return None, [(since, until)]  # inside one hour: raw rows only
    edges: Edges = []
    if since is not None and first is not None and since < first:
        edges.append((since, first))
    if until is not None and last is not None and last < until:
        edges.append((last, until))
    return (first, last), edges


def _ceil_hour(value: datetime) -> datetime:
    floor = hour_of(value)
    return floor if floor == value else floor + timedelta(hours=1)


def read(
    c: Connection,
    project_id: str,
    query: TraceStatsQuery,
    hours: Hours,
    cells: dict[tuple[Any, Any], Cell],
) -> None:
    """Add the rollups of ``hours`` matching ``query`` to ``cells`` (by bucket, group)."""
    r = trace_rollups.c
    if query.bucket == "hour":
        bucket: Any = r.hour
    elif c.dialect.name == "postgresql":
        bucket = func.date_trunc("day", func.timezone("UTC", r.hour))
    else:
        bucket = func.strftime("%Y-%m-%d", r.hour)
    group: Any = {"model": r.model, "name": r.name}.get(query.group_by or "", null())
    conditions = [r.project_id == project_id]
    if hours[0] is not None:
        conditions.append(r.hour >= hours[0])
    if hours[1] is not None:
        conditions.append(r.hour < hours[1])
    for column, value in ((r.name, query.name), (r.model, query.model), (r.status, query.status)):
        if value is not None:
            conditions.append(column == value)
    errors = func.sum(case((r.status == "error", r.trace_count), else_=0))
    stmt = (
        select(bucket.label("b"), group.label("g"), r.latency_bucket.label("lb"),
               func.sum(r.trace_count).label("n"), errors.label("errors"),
               func.sum(r.input_tokens).label("input_tokens"),
               func.sum(r.output_tokens).label("output_tokens"),
               func.sum(r.cost_usd).label("cost"), func.sum(r.cost_count).label("cost_count"),
               func.min(r.min_ms).label("min_ms"), func.max(r.max_ms).label("max_ms"))
        .where(*conditions)
    )  # fmt: skip
    keys = (
        [bucket, r.latency_bucket] if query.group_by is None else [bucket, group, r.latency_bucket]
    )
    stmt = stmt.group_by(*keys)
    for row in c.execute(stmt):
        if row.n:
            key = (bucket_start(row.b), row.g or None)
            cells.setdefault(key, Cell()).add_rollup(row)


def drop_empty(c: Connection, project_id: str, until: datetime) -> None:
    """Delete rollup rows left with no traces, in hours up to ``until``'s."""
    r = trace_rollups.c
    c.execute(
        trace_rollups.delete().where(
            r.project_id == project_id, r.hour <= hour_of(until), r.trace_count == 0
        )
    )
