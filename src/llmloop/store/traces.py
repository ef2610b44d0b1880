"""Traces and spans: tables shaped for the trace list, its filters and the span tree.

``spans`` holds every span once per ``(project, trace, span id)``; inserting a span
that is already there is a no-op, so a retried OTLP export never doubles anything.
``traces`` is a summary row per trace, written in the same transaction that inserts
its spans (from the batch for a new trace, recomputed from the stored spans for a
known one; see :mod:`llmloop.store.traces_write`), so always consistent and idempotent,
with the denormalised columns the list view filters and sorts on. ``trace_tags`` makes
a tag filter an index lookup; ``trace_scores`` holds scores on traces and spans.
"""

from __future__ import annotations

import builtins
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    case,
    exists,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.expression import null

from llmloop.errors import NotFoundError, ValidationError
from llmloop.records import Score
from llmloop.store import trace_rollups as rollups
from llmloop.store import traces_write
from llmloop.store.database import Database
from llmloop.store.schema import JsonType, UtcDateTime, metadata
from llmloop.store.trace_stats_types import TraceStatsQuery, TraceStatsRow
from llmloop.store.traces_types import PruneResult, Span, SpanNode, Trace, TraceFilter


def _project_column() -> Column[str]:
    return Column(
        "project_id",
        String(64),
        ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    )


spans = Table(
    "spans",
    metadata,
    _project_column(),
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("parent_span_id", String(16), nullable=True),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("start_time", UtcDateTime, nullable=False),
    Column("end_time", UtcDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("status", String(8), nullable=False),
    Column("status_message", Text, nullable=True),
    Column("service", Text, nullable=True),
    Column("model", Text, nullable=True),
    Column("provider", Text, nullable=True),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=True),
    Column("user_id", Text, nullable=True),
    Column("session_id", Text, nullable=True),
    Column("tags", JsonType, nullable=False),
    # JSON text written by us (non-ASCII kept as is), so a LIKE search finds "café"
    Column("inputs", Text, nullable=True),
    Column("outputs", Text, nullable=True),
    Column("attributes", JsonType, nullable=False),
    Column("events", JsonType, nullable=False),
    Column("flags", JsonType, nullable=False),
    PrimaryKeyConstraint("project_id", "trace_id", "span_id", name="pk_spans"),
    Index("ix_spans_project_start", "project_id", "start_time"),
)

traces = Table(
    "traces",
    metadata,
    _project_column(),
    Column("trace_id", String(32), nullable=False),
    Column("name", Text, nullable=False),
    Column("start_time", UtcDateTime, nullable=False),
    Column("end_time", UtcDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("status", String(8), nullable=False),
    Column("service", Text, nullable=True),
    Column("model", Text, nullable=True),
    Column("user_id", Text, nullable=True),
    Column("session_id", Text, nullable=True),
    Column("span_count", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=True),
    PrimaryKeyConstraint("project_id", "trace_id", name="pk_traces"),
    Index("ix_traces_project_start", "project_id", "start_time", "trace_id"),
    Index("ix_traces_project_name", "project_id", "name", "start_time"),
    Index("ix_traces_project_model", "project_id", "model", "start_time"),
    Index("ix_traces_project_user", "project_id", "user_id", "start_time"),
    Index("ix_traces_project_session", "project_id", "session_id", "start_time"),
)

trace_tags = Table(
    "trace_tags",
    metadata,
    _project_column(),
    Column("tag", String(200), nullable=False),
    Column("trace_id", String(32), nullable=False),
    PrimaryKeyConstraint("project_id", "tag", "trace_id", name="pk_trace_tags"),
    Index("ix_trace_tags_project_trace", "project_id", "trace_id"),
)

trace_scores = Table(
    "trace_scores",
    metadata,
    Column("id", String(64), primary_key=True),
    _project_column(),
    Column("trace_id", String(32), nullable=False),
    Column("target_kind", String(8), nullable=False),
    Column("target_id", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("value", JsonType, nullable=False),
    Column("rationale", Text, nullable=True),
    Column("source", String(200), nullable=False),
    Column("scorer_version", String(200), nullable=True),
    Column("cost_usd", Float, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_trace_scores_trace", "project_id", "trace_id"),
)

_SPAN_COLUMNS = tuple(c.name for c in spans.columns if c.name != "project_id")
_TRACE_COLUMNS = tuple(c.name for c in traces.columns if c.name != "project_id")


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing/update``."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _to_span(row: RowMapping) -> Span:
    values = {name: row[name] for name in _SPAN_COLUMNS}
    for side in ("inputs", "outputs"):
        values[side] = None if values[side] is None else json.loads(values[side])
    return Span.model_construct(**values)


def _to_trace(row: RowMapping, tags: list[str]) -> Trace:
    return Trace(**{name: row[name] for name in _TRACE_COLUMNS}, tags=tags)


def build_tree(items: Sequence[Span]) -> list[SpanNode]:
    """Spans as a forest: roots (and spans whose parent is missing) with their children."""
    ordered = sorted(items, key=lambda s: (s.start_time, s.span_id))
    nodes = {s.span_id: SpanNode(span=s) for s in ordered}
    roots: list[SpanNode] = []
    for s in ordered:
        parent = nodes.get(s.parent_span_id) if s.parent_span_id else None
        if parent is None or parent is nodes[s.span_id]:
            roots.append(nodes[s.span_id])
        else:
            parent.children.append(nodes[s.span_id])
    return roots


class TraceRepository:
    """Spans, trace summaries, tags and scores of one project at a time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ writes

    def insert(
        self, project_id: str, items: Sequence[Span], *, conn: Connection | None = None
    ) -> int:
        """Store spans (duplicates ignored) and refresh their traces; return traces touched."""
        if not items:
            return 0
        trace_ids = sorted({s.trace_id for s in items})
        with self.db.begin(conn) as c:
            known = self._known_traces(c, project_id, trace_ids)
            traces_write.insert_spans(c, project_id, items)
            new = set(trace_ids).difference(known)
            rows = traces_write.summarise(items, new)
            traces_write.upsert_summaries(c, project_id, rows)
            added = [_rollup_summary(r) for r in rows]
            if known:  # these had spans before: recompute from what is stored
                refreshed = self._refresh(c, project_id, sorted(known), items)
                added += [_rollup_summary(r) for r in refreshed]
            rollups.apply(c, project_id, rollups.deltas(added, known.values()))
        return len(trace_ids)

    @staticmethod
    def _known_traces(
        c: Connection, project_id: str, trace_ids: list[str]
    ) -> dict[str, rollups.Summary]:
        """Those of ``trace_ids`` that already have a summary row (so stored spans)."""
        found: dict[str, rollups.Summary] = {}
        t = traces.c
        for chunk in _chunks(trace_ids, 500):
            query = select(t.trace_id, *_ROLLUP_FIELDS).where(
                t.project_id == project_id, t.trace_id.in_(chunk)
            )
            for row in c.execute(query):
                found[row[0]] = rollups.Summary(*row[1:])
        return found

    def _refresh(
        self, c: Connection, project_id: str, trace_ids: list[str], batch: Sequence[Span]
    ) -> list[tuple[Any, ...]]:
        """Recompute the summary rows of ``trace_ids`` from their stored spans."""
        out: list[tuple[Any, ...]] = []
        s = spans.c
        for chunk in _chunks(trace_ids, 500):
            where = and_(s.project_id == project_id, s.trace_id.in_(chunk))
            aggregates = select(
                s.trace_id,
                func.min(s.start_time).label("start_time"),
                func.max(s.end_time).label("end_time"),
                func.count().label("span_count"),
                func.sum(case((s.status == "error", 1), else_=0)).label("error_count"),
                func.sum(s.input_tokens).label("input_tokens"),
                func.sum(s.output_tokens).label("output_tokens"),
                func.sum(s.cost_usd).label("cost_usd"),
                func.max(s.model).label("model"),
                func.max(s.user_id).label("user_id"),
                func.max(s.session_id).label("session_id"),
                func.max(s.service).label("service"),
            ).where(where)
            found = c.execute(aggregates.group_by(s.trace_id)).mappings().all()
            root_query = select(s.trace_id, s.name).where(where, s.parent_span_id.is_(None))
            roots = dict(c.execute(root_query).all())
            first = {}
            for span in sorted(batch, key=lambda x: x.start_time, reverse=True):
                first[span.trace_id] = span.name
            rows = [_summary(project_id, r, roots.get(r["trace_id"]) or first[r["trace_id"]])
                    for r in found]  # fmt: skip
            stmt = _insert(c, traces)
            update = {n: stmt.excluded[n] for n in _TRACE_COLUMNS if n != "trace_id"}
            c.execute(
                stmt.on_conflict_do_update(index_elements=["project_id", "trace_id"], set_=update),
                rows,
            )
            out += [tuple(row[n] for n in _TRACE_COLUMNS) for row in rows]
        return out

    def prune(
        self,
        project_id: str | None,
        older_than: datetime,
        *,
        batch_size: int = 1000,
        yield_to_writers: bool = True,
    ) -> PruneResult:
        """Delete traces that started before ``older_than`` (one project, or all when
        ``project_id`` is None) with their spans, tags and scores, and take them out of
        the rollups.

        Works in batches of ``batch_size`` traces, each its own short transaction, so
        writers wait at most one batch. On SQLite (one writer at a time) it then pauses
        as long as the batch took, so writers waiting on the lock get it in between.
        """
        if older_than.tzinfo is None:
            raise ValidationError(f"older_than {older_than.isoformat()} has no timezone")
        if batch_size < 1:
            raise ValidationError(f"batch_size must be at least 1, got {batch_size}")
        result = PruneResult()
        pause = yield_to_writers and self.db.dialect == "sqlite"
        for pid in [project_id] if project_id is not None else self._project_ids():
            while True:
                started = time.monotonic()
                done = self._prune_batch(pid, older_than, batch_size, result)
                if pause and done:
                    time.sleep(min(1.0, time.monotonic() - started))
                if done < batch_size:
                    break
        return result

    def _project_ids(self) -> builtins.list[str]:
        with self.db.connect() as c:
            return list(c.execute(select(traces.c.project_id).distinct()).scalars())

    def _prune_batch(
        self, project_id: str, older_than: datetime, batch_size: int, result: PruneResult
    ) -> int:
        t = traces.c
        with self.db.begin() as c:
            query = (
                select(t.trace_id, *_ROLLUP_FIELDS)
                .where(t.project_id == project_id, t.start_time < older_than)
                .order_by(t.start_time)
                .limit(batch_size)
            )
            found = c.execute(query).all()
            if not found:
                return 0
            ids = [r[0] for r in found]
            for chunk in _chunks(ids, 500):
                for table, field in ((spans, "spans"), (trace_tags, "tags"),
                                     (trace_scores, "scores"), (traces, "traces")):  # fmt: skip
                    where = and_(table.c.project_id == project_id, table.c.trace_id.in_(chunk))
                    deleted = c.execute(table.delete().where(where)).rowcount
                    setattr(result, field, getattr(result, field) + deleted)
            removed = [rollups.Summary(*r[1:]) for r in found]
            rollups.apply(c, project_id, rollups.deltas([], removed))
            rollups.drop_empty(c, project_id, until=max(s.start_time for s in removed))
        result.batches += 1
        return len(found)

    def add_score(self, project_id: str, trace_id: str, score: Score) -> Score:
        """Attach ``score`` to the trace (or one of its spans); the target must exist."""
        with self.db.begin() as c:
            self._require_target(c, project_id, trace_id, score)
            row = score.model_dump(exclude={"source"})
            row.update(project_id=project_id, trace_id=trace_id, source=str(score.source))
            c.execute(trace_scores.insert().values(**row))
        return score

    def _require_target(self, c: Connection, project_id: str, trace_id: str, score: Score) -> None:
        if score.target_kind == "span":
            query = select(spans.c.span_id).where(
                spans.c.project_id == project_id,
                spans.c.trace_id == trace_id,
                spans.c.span_id == score.target_id,
            )
            if c.execute(query).first() is None:
                raise NotFoundError(f"span {score.target_id!r} not found in trace {trace_id!r}")
        elif c.execute(self._trace_query(project_id, trace_id)).first() is None:
            raise NotFoundError(f"trace {trace_id!r} not found")

    # ------------------------------------------------------------------ reads

    @staticmethod
    def _trace_query(project_id: str, trace_id: str) -> Any:
        return select(traces).where(
            traces.c.project_id == project_id, traces.c.trace_id == trace_id
        )

    def get(self, project_id: str, trace_id: str) -> Trace:
        with self.db.connect() as c:
            row = c.execute(self._trace_query(project_id, trace_id)).mappings().first()
            if row is None:
                raise NotFoundError(f"trace {trace_id!r} not found")
            return _to_trace(row, self._tags(c, project_id, [trace_id]).get(trace_id, []))

    def spans(self, project_id: str, trace_id: str) -> list[Span]:
        query = (
            select(spans)
            .where(spans.c.project_id == project_id, spans.c.trace_id == trace_id)
            .order_by(spans.c.start_time, spans.c.span_id)
        )
        with self.db.connect() as c:
            return [_to_span(r) for r in c.execute(query).mappings()]

    def tree(self, project_id: str, trace_id: str) -> list[SpanNode]:
        return build_tree(self.spans(project_id, trace_id))

    def scores(self, project_id: str, trace_id: str) -> list[Score]:
        query = (
            select(trace_scores)
            .where(trace_scores.c.project_id == project_id, trace_scores.c.trace_id == trace_id)
            .order_by(trace_scores.c.created_at, trace_scores.c.id)
        )
        fields = Score.model_fields
        with self.db.connect() as c:
            return [Score(**{k: r[k] for k in fields}) for r in c.execute(query).mappings().all()]

    def list(self, project_id: str, where: TraceFilter | None = None) -> builtins.list[Trace]:
        """Traces matching ``where``, newest first."""
        where = where or TraceFilter()
        query = (
            select(traces)
            .where(*self._conditions(project_id, where))
            .order_by(traces.c.start_time.desc(), traces.c.trace_id.desc())
            .limit(where.limit)
            .offset(where.offset)
        )
        with self.db.connect() as c:
            rows = c.execute(query).mappings().all()
            tags = self._tags(c, project_id, [r["trace_id"] for r in rows])
            return [_to_trace(r, tags.get(r["trace_id"], [])) for r in rows]

    def count_spans(self, project_id: str | None = None) -> int:
        query = select(func.count()).select_from(spans)
        if project_id is not None:
            query = query.where(spans.c.project_id == project_id)
        with self.db.connect() as c:
            return int(c.execute(query).scalar_one())

    def _tags(
        self, c: Connection, project_id: str, trace_ids: builtins.list[str]
    ) -> dict[str, builtins.list[str]]:
        found: dict[str, builtins.list[str]] = defaultdict(list)
        for chunk in _chunks(trace_ids, 500):
            query = (
                select(trace_tags.c.trace_id, trace_tags.c.tag)
                .where(trace_tags.c.project_id == project_id, trace_tags.c.trace_id.in_(chunk))
                .order_by(trace_tags.c.tag)
            )
            for trace_id, tag in c.execute(query):
                found[trace_id].append(tag)
        return found

    @staticmethod
    def _conditions(project_id: str, f: TraceFilter) -> builtins.list[ColumnElement[bool]]:
        t = traces.c
        conditions: builtins.list[ColumnElement[bool]] = [t.project_id == project_id]
        equal = {
            t.name: f.name,
            t.model: f.model,
            t.status: f.status,
            t.user_id: f.user_id,
            t.session_id: f.session_id,
        }
        conditions += [column == value for column, value in equal.items() if value is not None]
        bounds = [
            (t.start_time, f.since, f.until),
            (t.cost_usd, f.min_cost_usd, f.max_cost_usd),
            (t.duration_ms, f.min_duration_ms, f.max_duration_ms),
        ]
        for column, low, high in bounds:
            if low is not None:
                conditions.append(column >= low)
            if high is not None:
                conditions.append(column < high if column is t.start_time else column <= high)
        for tag in f.tags:
            tagged = select(trace_tags.c.trace_id).where(
                trace_tags.c.project_id == project_id,
                trace_tags.c.tag == tag,
                trace_tags.c.trace_id == t.trace_id,
            )
            conditions.append(exists(tagged))
        if f.text:
            conditions.append(exists(_text_match(project_id, f.text)))
        return conditions

    # ------------------------------------------------------------------ aggregates

    def stats(self, project_id: str, query: TraceStatsQuery) -> builtins.list[TraceStatsRow]:
        """Traces per time bucket (and group), oldest bucket first.

        Hour and day buckets without tag or text filters are read from the hourly
        rollups for whole hours and from the raw trace rows for the partial hours at
        the edges of ``since``/``until``; counts, tokens, errors and cost are exact and
        p50/p95 are within :data:`~llmloop.store.trace_rollups.RELATIVE_ERROR` of the
        exact nearest-rank values. Other queries run :meth:`stats_exact`.
        """
        plan = rollups.plan(query)
        if plan is None:
            return self.stats_exact(project_id, query)
        hours, edges = plan
        cells: dict[tuple[Any, Any], rollups.Cell] = {}
        with self.db.connect() as c:
            if hours is not None:
                rollups.read(c, project_id, query, hours, cells)
            for since, until in edges:
                edge = query.model_copy(update={"since": since, "until": until})
                base = self._stats_base(c, project_id, edge).subquery()
                for r in c.execute(select(base)):
                    key = (rollups.bucket_start(r.b), r.g)
                    cell = cells.setdefault(key, rollups.Cell())
                    cell.add_trace(r.duration_ms, r.error_count > 0,
                                   (r.input_tokens, r.output_tokens), r.cost_usd)  # fmt: skip
        found = [_cell_row(b, g, cell) for (b, g), cell in cells.items() if cell.count > 0]
        return sorted(found, key=lambda r: (r.bucket_start, r.group is not None, r.group or ""))

    def stats_exact(self, project_id: str, query: TraceStatsQuery) -> builtins.list[TraceStatsRow]:
        """:meth:`stats` computed from the trace rows alone, percentiles exact.

        Percentiles are nearest-rank, from ``row_number()`` over each bucket's traces
        ordered by duration (window functions: SQLite >= 3.25 and PostgreSQL alike).
        """
        with self.db.connect() as c:
            base = self._stats_base(c, project_id, query).subquery()
            # the bucket is computed once, in ``base``, not again in each window's partition
            parts = [base.c.b] if query.group_by is None else [base.c.b, base.c.g]
            ranked = select(
                base,
                func.row_number().over(partition_by=parts, order_by=base.c.duration_ms).label("rn"),
                func.count().over(partition_by=parts).label("n"),
            ).subquery()
            rows = c.execute(_stats_select(ranked)).mappings().all()
        found = [_stats_row(r) for r in rows]
        return sorted(found, key=lambda r: (r.bucket_start, r.group is not None, r.group or ""))

    def _stats_base(self, c: Connection, project_id: str, query: TraceStatsQuery) -> Any:
        """One row per matching trace: bucket ``b``, group ``g`` and the measured fields."""
        t = traces.c
        where = TraceFilter(**query.model_dump(include=_STATS_FILTERS))
        source: Any = traces
        group: Any = null()
        if query.group_by == "tag":
            tag = trace_tags.c
            joined = and_(tag.project_id == t.project_id, tag.trace_id == t.trace_id)
            source = traces.outerjoin(trace_tags, joined)
            group = trace_tags.c.tag
        elif query.group_by is not None:
            group = t.model if query.group_by == "model" else t.name
        bucket = _bucket_expression(c.dialect.name, query.bucket)
        return (
            select(bucket.label("b"), group.label("g"), t.duration_ms, t.error_count,
                   t.input_tokens, t.output_tokens, t.cost_usd)
            .select_from(source)
            .where(*self._conditions(project_id, where))
        )  # fmt: skip

    def spans_of_traces(
        self, project_id: str, trace_ids: builtins.list[str]
    ) -> builtins.list[Span]:
        """Every span of these traces, trace by trace in the given order, by start time."""
        order = {trace_id: i for i, trace_id in enumerate(trace_ids)}
        found: builtins.list[Span] = []
        with self.db.connect() as c:
            for chunk in _chunks(trace_ids, 500):
                query = select(spans).where(spans.c.project_id == project_id,
                                            spans.c.trace_id.in_(chunk))  # fmt: skip
                found += [_to_span(r) for r in c.execute(query).mappings()]
        return sorted(found, key=lambda s: (order[s.trace_id], s.start_time, s.span_id))


_STATS_FILTERS = {"since", "until", "name", "model", "status", "tags", "text"}
_SQLITE_BUCKETS = {"minute": "%Y-%m-%d %H:%M:00", "hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d"}


def _bucket_expression(dialect: str, bucket: str) -> Any:
    """The UTC start of a trace's time bucket: a timestamp (PostgreSQL) or text (SQLite)."""
    start = traces.c.start_time
    if dialect == "postgresql":
        return func.date_trunc(bucket, func.timezone("UTC", start))
    return func.strftime(_SQLITE_BUCKETS[bucket], start)


def _stats_select(inner: Any) -> Any:
    """Per (bucket, group): sums, error count and nearest-rank p50/p95 of the durations."""
    q = inner.c

    def percentile(p: int) -> Any:
        rank = (q.n * p + 99) // 100  # ceil(p/100 * n) in integer arithmetic
        return func.min(case((q.rn >= rank, q.duration_ms)))

    return select(
        q.b,
        q.g,
        func.count().label("count"),
        func.sum(case((q.error_count > 0, 1), else_=0)).label("error_count"),
        func.sum(q.input_tokens).label("input_tokens"),
        func.sum(q.output_tokens).label("output_tokens"),
        func.sum(q.cost_usd).label("cost_usd"),
        percentile(50).label("p50"),
        percentile(95).label("p95"),
    ).group_by(q.b, q.g)


def _stats_row(r: RowMapping) -> TraceStatsRow:
    start = r["b"]
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    count = int(r["count"])
    errors = int(r["error_count"] or 0)
    tokens_in, tokens_out = int(r["input_tokens"] or 0), int(r["output_tokens"] or 0)
    return TraceStatsRow(
        bucket_start=start.replace(tzinfo=UTC),
        group=r["g"],
        count=count,
        error_count=errors,
        error_rate=errors / count if count else 0.0,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        total_tokens=tokens_in + tokens_out,
        cost_usd=None if r["cost_usd"] is None else float(r["cost_usd"]),
        p50_latency_ms=float(r["p50"]),
        p95_latency_ms=float(r["p95"]),
    )


def _cell_row(bucket: datetime, group: Any, cell: rollups.Cell) -> TraceStatsRow:
    return TraceStatsRow(
        bucket_start=bucket,
        group=group,
        count=cell.count,
        error_count=cell.errors,
        error_rate=cell.errors / cell.count,
        input_tokens=cell.input_tokens,
        output_tokens=cell.output_tokens,
        total_tokens=cell.input_tokens + cell.output_tokens,
        cost_usd=cell.cost if cell.cost_count else None,
        p50_latency_ms=cell.percentile(50),
        p95_latency_ms=cell.percentile(95),
    )


def _text_match(project_id: str, text: str) -> Any:
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    s = spans.c
    return select(s.span_id).where(
        s.project_id == project_id,
        s.trace_id == traces.c.trace_id,
        s.inputs.ilike(pattern, escape="\\") | s.outputs.ilike(pattern, escape="\\"),
    )


def _summary(project_id: str, r: RowMapping, name: str) -> dict[str, Any]:
    start: datetime = r["start_time"]
    end: datetime = r["end_time"]
    return {
        "project_id": project_id,
        "trace_id": r["trace_id"],
        "name": name,
        "start_time": start,
        "end_time": end,
        "duration_ms": traces_write.duration_ms(start, end),
        "status": "error" if r["error_count"] else "ok",
        "service": r["service"],
        "model": r["model"],
        "user_id": r["user_id"],
        "session_id": r["session_id"],
        "span_count": int(r["span_count"]),
        "error_count": int(r["error_count"]),
        "input_tokens": int(r["input_tokens"] or 0),
        "output_tokens": int(r["output_tokens"] or 0),
        "cost_usd": r["cost_usd"],
    }


_ROLLUP_FIELDS = tuple(
    traces.c[n] for n in ("start_time", "name", "model", "status", "duration_ms",
                          "input_tokens", "output_tokens", "cost_usd")
)  # fmt: skip


def _rollup_summary(row: Sequence[Any]) -> rollups.Summary:
    """A summary row in ``TRACE_COLUMNS`` order (without ``project_id``), reduced."""
    return rollups.Summary(start_time=row[2], name=row[1], model=row[7], status=row[5],
                           duration_ms=row[4], input_tokens=row[12], output_tokens=row[13],
                           cost_usd=row[14])  # fmt: skip


def _chunks(items: Sequence[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
