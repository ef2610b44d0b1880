"""Retention: pruning old traces in bounded batches, without locking out writers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from spans_factory import make_span, new_span_id, new_trace_id
from sqlalchemy import func, select

from llmloop.errors import SettingsError, ValidationError
from llmloop.records import Score
from llmloop.settings import Settings, load_settings
from llmloop.store import Database, ProjectRepository
from llmloop.store.trace_rollups import trace_rollups
from llmloop.store.trace_stats_types import TraceStatsQuery
from llmloop.store.traces import TraceRepository, trace_scores, trace_tags
from llmloop.store.traces_types import Span
from llmloop.tracing.retention import prune_expired
from llmloop.tracing.service import TraceService

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _trace(start: datetime, spans: int = 4, **fields: object) -> list[Span]:
    trace_id = new_trace_id()
    root = make_span(trace_id, start_time=start, name="root", tags=["t1", "t2"], **fields)
    children = [
        make_span(trace_id, start_time=start + timedelta(milliseconds=i),
                  parent_span_id=root.span_id, model="gpt-4o-mini", input_tokens=5, cost_usd=0.001)
        for i in range(spans - 1)
    ]  # fmt: skip
    return [root, *children]


def _count(db: Database, table: object, project_id: str) -> int:
    with db.connect() as c:
        query = select(func.count()).select_from(table).where(table.c.project_id == project_id)  # type: ignore[attr-defined]
        return int(c.execute(query).scalar_one())


@pytest.fixture
def projects(db: Database) -> tuple[str, str]:
    repo = ProjectRepository(db)
    return repo.create("keep-some").id, repo.create("other").id


def test_prune_deletes_old_traces_with_everything_attached(
    db: Database, projects: tuple[str, str]
) -> None:
    project, other = projects
    repo = TraceRepository(db)
    old = [_trace(NOW - timedelta(days=40, hours=i)) for i in range(5)]
    new = [_trace(NOW - timedelta(days=2, hours=i)) for i in range(3)]
    for spans in [*old, *new]:
        repo.insert(project, spans)
    repo.insert(other, _trace(NOW - timedelta(days=40)))
    old_id = old[0][0].trace_id
    repo.add_score(project, old_id, Score(name="thumbs", value=True, source="user",
                                          target_kind="trace", target_id=old_id))  # fmt: skip

    result = TraceService(db).prune(project, NOW - timedelta(days=30), batch_size=2)
    assert (result.traces, result.spans, result.tags, result.scores) == (5, 20, 10, 1)
    assert result.batches == 3  # 2 + 2 + 1
    assert repo.count_spans(project) == 12 and repo.count_spans(other) == 4
    assert {t.trace_id for t in repo.list(project)} == {s[0].trace_id for s in new}
    assert _count(db, trace_tags, project) == 6 and _count(db, trace_scores, project) == 0
    # the rollups lost exactly what was pruned: the chart query still equals the raw one
    query = TraceStatsQuery(bucket="day", group_by="model")
    assert repo.stats(project, query) == repo.stats_exact(project, query)
    with db.connect() as c:
        hours = select(func.min(trace_rollups.c.hour)).where(trace_rollups.c.project_id == project)
        assert c.execute(hours).scalar_one() >= NOW - timedelta(days=3)  # empty rows dropped

    everywhere = TraceService(db).prune(None, NOW - timedelta(days=30))
    assert (everywhere.traces, repo.count_spans(other)) == (1, 0)


def test_bad_arguments_are_refused(db: Database, projects: tuple[str, str]) -> None:
    repo = TraceRepository(db)
    with pytest.raises(ValidationError, match="no timezone"):
        repo.prune(projects[0], datetime(2026, 1, 1))
    with pytest.raises(ValidationError, match="batch_size must be at least 1, got 0"):
        repo.prune(projects[0], NOW, batch_size=0)


def test_retention_setting() -> None:
    assert load_settings().trace_retention_days == 0  # keep forever by default
    assert load_settings(trace_retention_days=30).trace_retention_days == 30
    with pytest.raises(SettingsError, match="LLMLOOP_TRACE_RETENTION_DAYS=-1"):
        load_settings(trace_retention_days=-1)


def test_prune_expired_uses_days_and_zero_keeps_all(
    db: Database, projects: tuple[str, str]
) -> None:
    repo = TraceRepository(db)
    repo.insert(projects[0], _trace(NOW - timedelta(days=8)))
    repo.insert(projects[1], _trace(NOW - timedelta(days=6)))
    assert prune_expired(db, 0, now=NOW).traces == 0
    assert prune_expired(db, 7, now=NOW).traces == 1
    assert (repo.count_spans(projects[0]), repo.count_spans(projects[1])) == (0, 4)


def test_writers_keep_committing_while_50k_spans_are_pruned(
    db: Database, projects: tuple[str, str]
) -> None:
    project = projects[0]
    repo = TraceRepository(db)
    batch: list[Span] = []
    for i in range(12_500):  # 50,000 spans, all older than the cutoff
        batch += _trace(NOW - timedelta(days=60, seconds=i))
        if len(batch) >= 5000:
            repo.insert(project, batch)
            batch = []
    assert repo.count_spans(project) == 50_000

    stop = threading.Event()
    commits: list[float] = []
    failures: list[BaseException] = []

    def writer() -> None:
        while not stop.is_set():
            try:
                repo.insert(project, _trace(NOW - timedelta(minutes=1)))
                commits.append(time.monotonic())
            except BaseException as exc:  # collected: the assertion below names it
                failures.append(exc)
                return

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        started = time.monotonic()
        result = repo.prune(project, NOW - timedelta(days=30), batch_size=500)
        finished = time.monotonic()
    finally:
        stop.set()
        thread.join(60)
    assert not failures, failures
    assert (result.spans, result.batches) == (50_000, 25)
    during = [t for t in commits if started <= t <= finished]
    assert len(during) >= result.batches // 2, (len(during), finished - started)
    assert repo.count_spans(project) == 4 * len(commits)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=db_url, trace_retention_days=7)


@pytest.fixture
def old_and_new(db: Database) -> Iterator[tuple[str, str, str]]:
    project = ProjectRepository(db).create("retained").id
    now = datetime.now(UTC)
    old, new = _trace(now - timedelta(days=8)), _trace(now - timedelta(days=1))
    TraceRepository(db).insert(project, old + new)
    yield project, old[0].trace_id, new[0].trace_id


def test_server_applies_the_retention_setting(
    old_and_new: tuple[str, str, str], db: Database, client: TestClient
) -> None:  # the old trace is stored before the server starts: the first pass prunes it
    project, _old, new = old_and_new
    repo = TraceRepository(db)
    deadline = time.monotonic() + 30
    while repo.count_spans(project) > 4:
        assert time.monotonic() < deadline, "retention did not run within 30 s of startup"
        time.sleep(0.05)
    assert [t.trace_id for t in repo.list(project)] == [new]


def test_idempotent_duplicates_do_not_count_twice_in_rollups(
    db: Database, projects: tuple[str, str]
) -> None:
    repo = TraceRepository(db)
    spans = _trace(NOW)
    repo.insert(projects[0], spans)
    repo.insert(projects[0], spans)  # a retried export
    late = make_span(spans[0].trace_id, span_id=new_span_id(), parent_span_id=spans[0].span_id,
                     start_time=NOW - timedelta(hours=2), duration_ms=5.0)  # fmt: skip
    repo.insert(projects[0], [late])  # moves the trace two hours back
    query = TraceStatsQuery(bucket="hour")
    [row] = repo.stats(projects[0], query)
    assert row.count == 1 and row.bucket_start == NOW - timedelta(hours=2)
    assert repo.stats(projects[0], query) == repo.stats_exact(projects[0], query)
