"""Trace aggregates over time buckets on SQLite and PostgreSQL, through API, SDK and CLI;
and the span export."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from spans_factory import BASE, make_span, new_trace_id

from llmloop.cli.main import main
from llmloop.runtime import Runtime
from llmloop.sdk import traces as sdk_traces
from llmloop.sdk.client import connect
from llmloop.store import Database, ProjectRepository
from llmloop.store.trace_rollups import RELATIVE_ERROR
from llmloop.store.trace_stats_types import TraceStatsQuery, TraceStatsRow
from llmloop.store.traces import TraceRepository
from llmloop.store.traces_types import Span
from support import LiveServer, Tenant, assert_error


@pytest.fixture
def project_id(db: Database) -> str:
    return ProjectRepository(db).create("aggregates").id


def _trace(minutes: float, duration: float, **fields: object) -> Span:
    """A one-span trace starting ``minutes`` after BASE (12:00 UTC)."""
    return make_span(
        new_trace_id(),
        start_time=BASE + timedelta(minutes=minutes),
        duration_ms=duration,
        kind="llm",
        **fields,
    )


def _sample() -> list[Span]:
    # 12:00-12:59 bucket: ten gpt-a traces with 10..100 ms, one failing; one gpt-b trace
    first = [
        _trace(i, 10.0 * (i + 1), model="gpt-a", input_tokens=3, output_tokens=2,
               cost_usd=0.5, status="error" if i == 0 else "ok", tags=["prod"])
        for i in range(10)
    ]  # fmt: skip
    other = _trace(30, 7.0, model="gpt-b", input_tokens=1, tags=["prod", "beta"])
    # 13:00-13:59 bucket: two gpt-a traces without cost
    later = [_trace(65 + i, 40.0 + i, model="gpt-a") for i in range(2)]
    # the next day, to check day buckets
    tomorrow = _trace(24 * 60, 5.0, model="gpt-a")
    return [*first, other, *later, tomorrow]


def test_hourly_totals_and_percentiles(db: Database, project_id: str) -> None:
    repo = TraceRepository(db)
    repo.insert(project_id, _sample())
    rows = repo.stats(project_id, TraceStatsQuery(bucket="hour", until=BASE + timedelta(hours=2)))
    assert [r.bucket_start for r in rows] == [BASE, BASE + timedelta(hours=1)]
    noon, one = rows
    assert (noon.count, noon.error_count) == (11, 1)
    assert noon.error_rate == pytest.approx(1 / 11)
    assert (noon.input_tokens, noon.output_tokens, noon.total_tokens) == (31, 20, 51)
    assert noon.cost_usd == pytest.approx(5.0)
    # durations 7, 10, 20, …, 100: nearest-rank p50 is the 6th, p95 the 11th
    assert noon.p50_latency_ms == pytest.approx(50.0)
    assert noon.p95_latency_ms == pytest.approx(100.0)
    assert (one.count, one.cost_usd, one.p50_latency_ms, one.p95_latency_ms) == (2, None, 40, 41)


def test_grouped_by_model_and_by_tag(db: Database, project_id: str) -> None:
    repo = TraceRepository(db)
    repo.insert(project_id, _sample())
    by_model = repo.stats(project_id, TraceStatsQuery(bucket="day", group_by="model"))
    assert [(r.bucket_start, r.group, r.count) for r in by_model] == [
        (BASE.replace(hour=0), "gpt-a", 12),
        (BASE.replace(hour=0), "gpt-b", 1),
        (BASE.replace(hour=0) + timedelta(days=1), "gpt-a", 1),
    ]
    assert by_model[1].p95_latency_ms == pytest.approx(7.0)

    by_tag = repo.stats(
        project_id, TraceStatsQuery(bucket="day", group_by="tag", until=BASE + timedelta(hours=3))
    )
    assert [(r.group, r.count) for r in by_tag] == [(None, 2), ("beta", 1), ("prod", 11)]


def test_minute_buckets_filters_and_other_projects(db: Database, project_id: str) -> None:
    repo = TraceRepository(db)
    repo.insert(project_id, _sample())
    other = ProjectRepository(db).create("elsewhere").id
    repo.insert(other, [_trace(0, 999.0, model="gpt-a")])
    query = TraceStatsQuery(
        bucket="minute", model="gpt-a", since=BASE, until=BASE + timedelta(minutes=3)
    )
    rows = repo.stats(project_id, query)
    assert [(r.bucket_start.minute, r.count, r.p95_latency_ms) for r in rows] == [
        (0, 1, 10.0),
        (1, 1, 20.0),
        (2, 1, 30.0),
    ]
    assert repo.stats(project_id, TraceStatsQuery(status="error"))[0].count == 1
    assert repo.stats(project_id, TraceStatsQuery(since=BASE + timedelta(days=5))) == []


def test_bad_queries_are_refused() -> None:
    with pytest.raises(ValidationError, match="at most 10000"):
        TraceStatsQuery(bucket="minute", since=BASE, until=BASE + timedelta(days=30))
    with pytest.raises(ValidationError, match="until must be after since"):
        TraceStatsQuery(since=BASE, until=BASE)
    with pytest.raises(ValidationError):
        TraceStatsQuery(bucket="week")  # type: ignore[arg-type]


def test_stats_endpoint(client: TestClient, tenant: Tenant, runtime: Runtime) -> None:
    TraceRepository(runtime.db).insert(tenant.project.id, _sample())
    url = f"/api/v1/projects/{tenant.project.name}/traces/stats"
    resp = client.get(
        url, params={"bucket": "hour", "group_by": "model"}, headers=tenant.headers("viewer")
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [(r["group"], r["count"]) for r in body[:2]] == [("gpt-a", 10), ("gpt-b", 1)]
    assert body[0]["p95_latency_ms"] == 100.0

    assert_error(client.get(url, params={"bucket": "week"}, headers=tenant.headers("viewer")),
                 422, "invalid_request")  # fmt: skip
    bad_range = {
        "bucket": "minute",
        "since": "2026-01-01T00:00:00Z",
        "until": "2026-03-01T00:00:00Z",
    }
    resp = client.get(url, params=bad_range, headers=tenant.headers("viewer"))
    assert_error(resp, 422, "invalid_request")
    assert "at most 10000" in resp.text
    assert client.get(url).status_code == 401


def test_sdk_and_cli_stats(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = live_server.tenant("stats-sdk")
    TraceRepository(live_server.runtime.db).insert(tenant.project.id, _sample())
    with connect(live_server.url, api_key=tenant.secret("viewer")) as client:
        rows = client.traces.stats(bucket="day", group_by="model")
        assert all(isinstance(r, TraceStatsRow) for r in rows)
        assert [(r.group, r.count) for r in rows] == [("gpt-a", 12), ("gpt-b", 1), ("gpt-a", 1)]
        frame = client.traces.stats_to_pandas(bucket="hour", until=BASE + timedelta(hours=2))
        assert list(frame["count"]) == [11, 2]
        assert list(frame["p95_latency_ms"]) == [100.0, 41.0]
        with pytest.raises(ValidationError):
            client.traces.stats(bucket="fortnight")

    monkeypatch.setenv("LLMLOOP_SERVER_URL", live_server.url)
    monkeypatch.setenv("LLMLOOP_API_KEY", tenant.secret("viewer"))
    with pytest.raises(SystemExit) as done:
        main(["traces", "stats", "--bucket", "day", "--group-by", "tag", "--json"])
    assert done.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["group"], r["count"]) for r in out][:3] == [(None, 2), ("beta", 1), ("prod", 11)]
    with pytest.raises(SystemExit) as done:
        main(["traces", "stats", "--bucket", "hour", "--until", "2026-01-01T14:00:00"])
    assert done.value.code == 0
    table = capsys.readouterr().out
    assert "Traces per hour" in table and "100.0" in table
    with pytest.raises(SystemExit) as done:
        main(["traces", "stats", "--bucket", "week"])
    assert done.value.code == 1
    assert "invalid query" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_export_pages_through_every_span(
    fmt: str,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tenant = live_server.tenant(f"export-{fmt}")
    sample = _sample()
    child = make_span(sample[0].trace_id, parent_span_id=sample[0].span_id, name="child",
                      inputs={"q": "café"}, attributes={"k": [1, 2]})  # fmt: skip
    TraceRepository(live_server.runtime.db).insert(tenant.project.id, [*sample, child])
    monkeypatch.setattr(sdk_traces, "EXPORT_PAGE", 4)  # 14 traces: four pages
    monkeypatch.setenv("LLMLOOP_SERVER_URL", live_server.url)
    monkeypatch.setenv("LLMLOOP_API_KEY", tenant.secret("viewer"))
    out = tmp_path / f"spans.{fmt}"
    with pytest.raises(SystemExit) as done:
        main(["traces", "export", str(out), "--format", fmt])
    assert done.value.code == 0
    assert "wrote 15 spans" in capsys.readouterr().out
    if fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        spans = [Span.model_validate(r) for r in rows]
    else:
        rows = pq.read_table(out).to_pylist()
        free_form = ("inputs", "outputs", "attributes", "events")
        spans = [Span.model_validate({**r, **{k: json.loads(r[k]) for k in free_form}})
                 for r in rows]  # fmt: skip
    assert sorted(s.span_id for s in spans) == sorted(s.span_id for s in [*sample, child])
    exported = next(s for s in spans if s.span_id == child.span_id)
    assert (exported.inputs, exported.attributes) == ({"q": "café"}, {"k": [1, 2]})

    with pytest.raises(SystemExit) as done:
        main(["traces", "export", str(tmp_path / "x.csv"), "--format", "csv"])
    assert done.value.code == 1
    with pytest.raises(SystemExit) as done:
        main(["traces", "export", str(tmp_path / "y.jsonl"), "--status", "bogus"])
    assert done.value.code == 1 and not (tmp_path / "y.jsonl").exists()


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(durations=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=40))
def test_percentiles_are_nearest_rank(db: Database, durations: list[int]) -> None:
    project_id = ProjectRepository(db).create(f"p-{new_trace_id()[:12]}").id
    TraceRepository(db).insert(project_id, [_trace(0, float(d)) for d in durations])
    [row] = TraceRepository(db).stats_exact(project_id, TraceStatsQuery(bucket="day"))
    ordered = sorted(durations)
    n = len(ordered)
    assert row.count == n
    assert row.p50_latency_ms == ordered[-(-50 * n // 100) - 1]  # ceil(n/2)-th smallest
    assert row.p95_latency_ms == ordered[-(-95 * n // 100) - 1]
    # the same query from the hourly rollups: within the histogram's stated error
    [rolled] = TraceRepository(db).stats(project_id, TraceStatsQuery(bucket="day"))
    for p, value in ((50, rolled.p50_latency_ms), (95, rolled.p95_latency_ms)):
        exact = ordered[-(-p * n // 100) - 1]
        assert abs(value - exact) <= exact * RELATIVE_ERROR + 1e-9
