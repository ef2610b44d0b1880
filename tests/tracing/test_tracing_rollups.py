"""Hourly rollups answer the aggregate query like the raw rows do (property test), are
kept in step by late spans, and are backfilled by the migration."""

from __future__ import annotations

import importlib.util
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spans_factory import make_span, new_span_id, new_trace_id
from sqlalchemy import delete, func, select

from llmloop.store import Database, ProjectRepository
from llmloop.store.migrate import MIGRATIONS_DIR
from llmloop.store.trace_rollups import (
    RELATIVE_ERROR,
    bucket_bounds,
    bucket_of,
    trace_rollups,
)
from llmloop.store.trace_stats_types import TraceStatsQuery, TraceStatsRow
from llmloop.store.traces import TraceRepository
from llmloop.store.traces_types import Span

T0 = datetime(2026, 2, 1, tzinfo=UTC)

span_specs = st.fixed_dictionaries(
    {
        "minute": st.integers(0, 72 * 60),
        "second": st.integers(0, 59),
        "duration": st.one_of(st.integers(0, 5000), st.floats(0, 2.0)),
        "model": st.sampled_from([None, "gpt-a", "gpt-b"]),
        "name": st.sampled_from(["ask", "plan"]),
        "error": st.booleans(),
        "tokens": st.integers(0, 50),
        "cost": st.one_of(st.none(), st.floats(0, 0.01)),
        "batch": st.integers(0, 2),
    }
)
traces_strategy = st.lists(st.lists(span_specs, min_size=1, max_size=3), min_size=1, max_size=12)
offsets = st.one_of(st.none(), st.integers(-60, 73 * 60))
queries = st.fixed_dictionaries(
    {
        "bucket": st.sampled_from(["hour", "day"]),
        "group_by": st.sampled_from([None, "model", "name"]),
        "since": offsets,
        "until": offsets,
        "model": st.sampled_from([None, "gpt-a"]),
        "name": st.sampled_from([None, "plan"]),
        "status": st.sampled_from([None, "error", "ok"]),
    }
)


def _spans(trace: list[dict[str, Any]]) -> list[tuple[int, Span]]:
    trace_id = new_trace_id()
    root_id = new_span_id()
    out = []
    for i, spec in enumerate(trace):
        start = T0 + timedelta(minutes=spec["minute"], seconds=spec["second"])
        span = make_span(
            trace_id, span_id=root_id if i == 0 else new_span_id(),
            parent_span_id=None if i == 0 else root_id, name=spec["name"],
            start_time=start, duration_ms=float(spec["duration"]), model=spec["model"],
            status="error" if spec["error"] else "ok", input_tokens=spec["tokens"],
            output_tokens=spec["tokens"] // 2, cost_usd=spec["cost"],
        )  # fmt: skip
        out.append((spec["batch"], span))
    return out


def _query(spec: dict[str, Any]) -> TraceStatsQuery | None:
    values = dict(spec)
    for side in ("since", "until"):
        if values[side] is not None:
            values[side] = T0 + timedelta(minutes=values[side])
    if values["since"] and values["until"] and values["until"] <= values["since"]:
        return None
    return TraceStatsQuery(**values)


def assert_close(rolled: list[TraceStatsRow], exact: list[TraceStatsRow]) -> None:
    assert [(r.bucket_start, r.group) for r in rolled] == [(r.bucket_start, r.group) for r in exact]
    for a, b in zip(rolled, exact, strict=True):
        assert (a.count, a.error_count, a.input_tokens, a.output_tokens) == (
            b.count, b.error_count, b.input_tokens, b.output_tokens,
        )  # fmt: skip
        assert (a.cost_usd is None) == (b.cost_usd is None)
        if a.cost_usd is not None and b.cost_usd is not None:
            assert math.isclose(a.cost_usd, b.cost_usd, rel_tol=1e-9, abs_tol=1e-12)
        for est, true in (
            (a.p50_latency_ms, b.p50_latency_ms),
            (a.p95_latency_ms, b.p95_latency_ms),
        ):
            assert abs(est - true) <= true * RELATIVE_ERROR + 0.01, (est, true)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(traces=traces_strategy, query_specs=st.lists(queries, min_size=1, max_size=4))
def test_rollups_equal_the_raw_rows(
    db: Database, traces: list[list[dict[str, Any]]], query_specs: list[dict[str, Any]]
) -> None:
    project_id = ProjectRepository(db).create(f"p-{new_trace_id()[:12]}").id
    repo = TraceRepository(db)
    spans = [pair for trace in traces for pair in _spans(trace)]
    for batch in range(3):  # late spans arrive in later requests and refresh their trace
        repo.insert(project_id, [s for b, s in spans if b == batch])
    for spec in query_specs:
        query = _query(spec)
        if query is not None:
            assert_close(repo.stats(project_id, query), repo.stats_exact(project_id, query))


def test_histogram_buckets_are_logarithmic_and_bounded() -> None:
    assert bucket_of(0.0) == 0 and bucket_of(0.005) == 0
    for value in (0.01, 0.3, 1.0, 17.0, 999.0, 123_456.0):
        low, high = bucket_bounds(bucket_of(value))
        assert low <= value * (1 + 1e-12) and value < high * (1 + 1e-12)
        assert high / low == pytest.approx(2 ** (1 / 8))
    assert pytest.approx(0.0443, abs=1e-4) == RELATIVE_ERROR


def test_single_value_buckets_are_exact(db: Database) -> None:
    project_id = ProjectRepository(db).create("exact").id
    repo = TraceRepository(db)
    for i, duration in enumerate(
        [7.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
    ):
        repo.insert(project_id, [make_span(new_trace_id(), start_time=T0 + timedelta(minutes=i),
                                           duration_ms=duration)])  # fmt: skip
    [row] = repo.stats(project_id, TraceStatsQuery(bucket="hour"))
    assert (row.p50_latency_ms, row.p95_latency_ms) == (50.0, 100.0)


def _migration() -> Any:
    path = MIGRATIONS_DIR / "versions" / "0006_trace_rollups.py"
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_migration_backfills_existing_traces(db: Database) -> None:
    project_id = ProjectRepository(db).create("before-rollups").id
    repo = TraceRepository(db)
    traces = [
        make_span(new_trace_id(), start_time=T0 + timedelta(minutes=7 * i),
                  duration_ms=float(10 + i), model=["m1", "m2"][i % 2], input_tokens=i)
        for i in range(40)
    ]  # fmt: skip
    repo.insert(project_id, traces)
    query = TraceStatsQuery(bucket="hour", group_by="model")
    expected = repo.stats(project_id, query)
    with db.begin() as c:  # as stored before 0006: traces without rollups
        c.execute(delete(trace_rollups))
    assert repo.stats(project_id, query) == []
    migration = _migration()
    migration.BACKFILL_CHUNK = 7  # several keyset pages
    with db.begin() as c:
        migration._backfill(c)
        assert c.execute(select(func.sum(trace_rollups.c.trace_count))).scalar_one() == 40
    assert repo.stats(project_id, query) == expected  # as if maintained all along
    assert_close(expected, repo.stats_exact(project_id, query))
