"""The lean span write path: same stored bytes as SQLAlchemy's, summaries as the recompute."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from spans_factory import BASE, make_span, new_span_id, new_trace_id

from llmloop.store import Database, ProjectRepository, traces_write
from llmloop.store.traces import TraceRepository, spans, traces
from llmloop.store.traces_types import Span


@pytest.fixture
def repo(db: Database) -> TraceRepository:
    return TraceRepository(db)


def _project(db: Database, name: str) -> str:
    return ProjectRepository(db).create(name).id


def _raw(db: Database, table: str, project_id: str) -> list[tuple[Any, ...]]:
    with db.connect() as c:
        rows = c.exec_driver_sql(f"SELECT * FROM {table}").all()
    return sorted(tuple(v for v in r if v != project_id) for r in rows)


def _rich_span(trace_id: str) -> Span:
    plus_two = timezone(timedelta(hours=2))
    start = datetime(2026, 3, 1, 14, 0, 0, 123456, tzinfo=plus_two)  # stored as 12:00 UTC
    return make_span(
        trace_id,
        name="café ☕",
        kind="llm",
        start_time=start,
        duration_ms=250.5,
        status="error",
        status_message="boom",
        service="svc",
        model="gpt-4o-mini",
        provider="openai",
        input_tokens=7,
        output_tokens=3,
        cost_usd=0.125,
        user_id="u1",
        session_id="s1",
        tags=["b", "a"],
        inputs={"messages": [{"role": "user", "content": "héllo"}]},
        outputs="plain ✓",
        attributes={"k": [1, 2.5, True, None, {"nested": "ü"}]},
        events=[{"name": "exception", "time": "2026-03-01T12:00:00+00:00", "attributes": {}}],
        flags=["end_before_start"],
    )


def test_column_order_matches_the_tables() -> None:
    assert tuple(c.name for c in spans.columns) == traces_write.SPAN_COLUMNS
    assert tuple(c.name for c in traces.columns) == traces_write.TRACE_COLUMNS


def test_stored_values_equal_what_sqlalchemy_writes(db: Database, repo: TraceRepository) -> None:
    lean, core = _project(db, "lean"), _project(db, "core")
    span = _rich_span(new_trace_id())
    repo.insert(lean, [span])
    row = {name: getattr(span, name) for name in traces_write.SPAN_COLUMNS[1:]}
    row.update(project_id=core, inputs=traces_write._text(span.inputs))
    row["outputs"] = traces_write._text(span.outputs)
    with db.begin() as c:
        c.execute(spans.insert(), [row])
    by_lean = [_parsed(r) for r in _raw(db, "spans", lean) if core not in r]
    by_core = [_parsed(r) for r in _raw(db, "spans", core) if lean not in r]
    assert by_lean == by_core and len(by_lean) == 1


def _parsed(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A raw row with its JSON texts decoded: the JSON is the same, its spacing may not be."""
    return tuple(
        json.loads(v) if isinstance(v, str) and v[:1] in ("[", "{", '"') else v for v in row
    )


def test_every_field_round_trips(repo: TraceRepository, db: Database) -> None:
    project_id = _project(db, "rt")
    span = _rich_span(new_trace_id())
    repo.insert(project_id, [span])
    (back,) = repo.spans(project_id, span.trace_id)
    assert back.start_time == span.start_time and back.start_time.tzinfo is not None
    assert back.start_time.utcoffset() == timedelta(0)
    assert back.model_dump() == span.model_dump()
    summary = repo.get(project_id, span.trace_id)
    assert summary.start_time == span.start_time and summary.tags == ["a", "b"]
    assert repo.list(project_id, None)[0].trace_id == span.trace_id


def _random_batch(rng: random.Random, traces_n: int) -> list[Span]:
    out: list[Span] = []
    for _ in range(traces_n):
        trace, root = new_trace_id(), None
        for i in range(rng.randint(1, 6)):
            span = make_span(
                trace,
                name=f"n{rng.randint(0, 99)}",
                parent_span_id=None if root is None else root.span_id,  # one root: its name
                start_time=BASE + timedelta(milliseconds=rng.randint(0, 10_000) * 10 + i),
                duration_ms=float(rng.randint(0, 5000)),
                status=rng.choice(["ok", "error", "unset"]),
                model=rng.choice([None, "gpt-4o", "gpt-4o-mini", "claude"]),
                user_id=rng.choice([None, "u1", "u2"]),
                service=rng.choice([None, "a", "b"]),
                input_tokens=rng.randint(0, 100),
                output_tokens=rng.randint(0, 100),
                cost_usd=rng.choice([None, 0.5, 0.25, 1.0]),
            )
            root = root or span
            out.append(span)
            if rng.random() < 0.3:  # a duplicate id in the same batch: the first one counts
                out.append(span.model_copy(update={"input_tokens": 10_000, "name": "dup"}))
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batch_summaries_equal_the_recompute_from_stored_spans(
    db: Database, repo: TraceRepository, seed: int
) -> None:
    fast, slow = _project(db, "fast"), _project(db, "slow")
    batch = _random_batch(random.Random(seed), 25)
    assert repo.insert(fast, batch) == 25  # every trace new: summaries from the batch
    first_ids = {s.span_id: s for s in reversed(batch)}  # first occurrence of each id
    repo.insert(slow, [batch[0]])
    repo.insert(slow, [batch[0]])  # a known trace, only duplicates
    known = [s for s in batch if s.trace_id == batch[0].trace_id]
    repo.insert(slow, known)  # then the known trace's spans go through the recompute
    repo.insert(slow, batch)
    a, b = repo.list(fast, None), repo.list(slow, None)
    assert len(a) == 25
    assert [t.model_dump() for t in a] == [t.model_dump() for t in b]
    assert sum(t.span_count for t in a) == len(first_ids) == repo.count_spans(fast)
    assert sum(t.input_tokens for t in a) == sum(s.input_tokens for s in first_ids.values())


def test_a_retry_of_a_whole_batch_changes_nothing(db: Database, repo: TraceRepository) -> None:
    project_id = _project(db, "retry")
    batch = _random_batch(random.Random(7), 10)
    repo.insert(project_id, batch)
    before = (_raw(db, "spans", project_id), _raw(db, "traces", project_id))
    repo.insert(project_id, list(reversed(batch)))
    assert (_raw(db, "spans", project_id), _raw(db, "traces", project_id)) == before


def test_a_bad_span_writes_nothing_of_its_batch(db: Database, repo: TraceRepository) -> None:
    project_id = _project(db, "bad")
    trace = new_trace_id()
    good = make_span(trace)
    naive = Span.model_construct(**{**good.model_dump(), "span_id": new_span_id(),
                                    "start_time": datetime(2026, 1, 1)})  # fmt: skip
    nameless = Span.model_construct(**{**good.model_dump(), "span_id": new_span_id(), "name": None})
    for bad in (naive, nameless):
        with pytest.raises(Exception):  # noqa: B017 - the driver's own error type
            repo.insert(project_id, [good, bad])
        assert repo.count_spans(project_id) == 0
        assert repo.list(project_id, None) == []
    assert repo.insert(project_id, [good]) == 1
    assert repo.get(project_id, trace).start_time == BASE.astimezone(UTC)
