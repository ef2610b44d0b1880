"""The trace repository on SQLite and PostgreSQL: idempotent inserts, summaries, filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from spans_factory import BASE, make_span, new_span_id, new_trace_id

from llmloop.errors import NotFoundError
from llmloop.records import Score
from llmloop.store import Database, ProjectRepository
from llmloop.store.traces import TraceRepository
from llmloop.store.traces_types import TraceFilter


@pytest.fixture
def project_id(db: Database) -> str:
    return ProjectRepository(db).create("tracing").id


@pytest.fixture
def repo(db: Database) -> TraceRepository:
    return TraceRepository(db)


def test_duplicate_spans_are_ignored_and_the_trace_is_recomputed(
    repo: TraceRepository, project_id: str
) -> None:
    trace = new_trace_id()
    root = make_span(trace, name="agent", duration_ms=500, kind="chain")
    child = make_span(
        trace,
        parent_span_id=root.span_id,
        name="chat",
        kind="llm",
        model="gpt-4o-mini",
        input_tokens=10,
        output_tokens=5,
        cost_usd=0.25,
        start_time=BASE + timedelta(milliseconds=100),
        duration_ms=600,
    )
    assert repo.insert(project_id, [child]) == 1  # the child arrives first
    first = repo.get(project_id, trace)
    assert (first.name, first.span_count) == ("chat", 1)

    repo.insert(project_id, [root, child])  # child again: a retried export
    repo.insert(project_id, [root])
    summary = repo.get(project_id, trace)
    assert repo.count_spans(project_id) == 2
    assert summary.name == "agent"
    assert summary.span_count == 2
    assert (summary.input_tokens, summary.output_tokens, summary.cost_usd) == (10, 5, 0.25)
    assert summary.model == "gpt-4o-mini"
    assert summary.start_time == BASE
    assert summary.duration_ms == pytest.approx(700)
    assert summary.status == "ok"

    tree = repo.tree(project_id, trace)
    assert [n.span.span_id for n in tree] == [root.span_id]
    assert [n.span.span_id for n in tree[0].children] == [child.span_id]


def test_error_span_marks_the_trace(repo: TraceRepository, project_id: str) -> None:
    trace = new_trace_id()
    repo.insert(project_id, [make_span(trace), make_span(trace, status="error")])
    summary = repo.get(project_id, trace)
    assert (summary.status, summary.error_count) == ("error", 1)


def test_inputs_and_outputs_round_trip_and_are_searchable(
    repo: TraceRepository, project_id: str
) -> None:
    wanted, other = new_trace_id(), new_trace_id()
    repo.insert(
        project_id,
        [
            make_span(wanted, inputs={"question": "Où est le café?"}, outputs=["100% sure"]),
            make_span(other, inputs={"question": "weather"}, outputs=None),
        ],
    )
    [span] = repo.spans(project_id, wanted)
    assert span.inputs == {"question": "Où est le café?"}
    assert span.outputs == ["100% sure"]

    def found(text: str) -> list[str]:
        return [t.trace_id for t in repo.list(project_id, TraceFilter(text=text))]

    assert found("CAFÉ") == [wanted] or found("café") == [wanted]
    assert found("café") == [wanted]
    assert found("100%") == [wanted]
    assert found("0%s") == []  # % is literal, not a wildcard
    assert found("weather") == [other]


def test_filters_combine(repo: TraceRepository, project_id: str) -> None:
    ids = [new_trace_id() for _ in range(4)]
    repo.insert(
        project_id,
        [
            make_span(ids[0], name="a", model="m1", user_id="u1", session_id="s1",
                      tags=["prod", "v1"], cost_usd=0.1, duration_ms=50),
            make_span(ids[1], name="a", model="m2", user_id="u2", tags=["prod"],
                      cost_usd=1.0, duration_ms=2000, start_time=BASE + timedelta(hours=1)),
            make_span(ids[2], name="b", model="m1", status="error",
                      start_time=BASE + timedelta(hours=2)),
            make_span(ids[3], name="b", start_time=BASE - timedelta(days=1)),
        ],
    )  # fmt: skip

    def found(**kw: object) -> list[str]:
        return [t.trace_id for t in repo.list(project_id, TraceFilter.model_validate(kw))]

    assert found() == [ids[2], ids[1], ids[0], ids[3]]  # newest first
    assert found(name="a") == [ids[1], ids[0]]
    assert found(model="m1") == [ids[2], ids[0]]
    assert found(status="error") == [ids[2]]
    assert found(user_id="u2") == [ids[1]]
    assert found(session_id="s1") == [ids[0]]
    assert found(tags=["prod"]) == [ids[1], ids[0]]
    assert found(tags=["prod", "v1"]) == [ids[0]]
    assert found(min_cost_usd=0.5) == [ids[1]]
    assert found(max_cost_usd=0.5) == [ids[0]]
    assert found(min_duration_ms=1000) == [ids[1]]
    assert found(since=BASE, until=BASE + timedelta(hours=2)) == [ids[1], ids[0]]
    assert found(limit=1, offset=1) == [ids[1]]
    assert repo.get(project_id, ids[0]).tags == ["prod", "v1"]


def test_projects_do_not_see_each_other(db: Database, repo: TraceRepository) -> None:
    projects = ProjectRepository(db)
    a, b = projects.create("a").id, projects.create("b").id
    trace = new_trace_id()
    span = make_span(trace, tags=["x"])
    repo.insert(a, [span])
    repo.insert(b, [span])  # the same ids in another project are another span
    assert repo.count_spans(a) == repo.count_spans(b) == 1
    with pytest.raises(NotFoundError):
        repo.get(projects.create("c").id, trace)


def test_end_before_start_is_stored_and_flagged(repo: TraceRepository, project_id: str) -> None:
    trace = new_trace_id()
    span = make_span(trace, end_time=BASE - timedelta(seconds=1), duration_ms=0,
                     flags=["end_before_start"])  # fmt: skip
    repo.insert(project_id, [span])
    [stored] = repo.spans(project_id, trace)
    assert stored.flags == ["end_before_start"]
    assert stored.end_time < stored.start_time


def test_scores_attach_to_existing_traces_and_spans_only(
    repo: TraceRepository, project_id: str
) -> None:
    trace = new_trace_id()
    span = make_span(trace)
    repo.insert(project_id, [span])
    on_trace = Score(target_kind="trace", target_id=trace, name="ok", value=True, source="user")
    on_span = Score(target_kind="span", target_id=span.span_id, name="q", value=0.5,
                    source="judge:local/x")  # fmt: skip
    repo.add_score(project_id, trace, on_trace)
    repo.add_score(project_id, trace, on_span)
    assert repo.scores(project_id, trace) == [on_trace, on_span]
    with pytest.raises(NotFoundError, match="trace"):
        repo.add_score(project_id, new_trace_id(), on_trace)
    bad_span = on_span.model_copy(update={"target_id": new_span_id()})
    with pytest.raises(NotFoundError, match="span"):
        repo.add_score(project_id, trace, bad_span)
    assert len(repo.scores(project_id, trace)) == 2
