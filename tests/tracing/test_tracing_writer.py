"""``TraceWriter.offer``: queue spans without waiting; drop and count when full."""

from __future__ import annotations

import threading
import time

from spans_factory import make_span, new_trace_id

from llmloop.store import Database, ProjectRepository
from llmloop.store.traces import TraceRepository
from llmloop.store.traces_types import Span
from llmloop.tracing.writer import TraceWriter


def _spans(n: int) -> list[Span]:
    trace_id = new_trace_id()
    return [make_span(trace_id, name=f"s{i}") for i in range(n)]


def test_offer_queues_and_commits_without_waiting(db: Database) -> None:
    project_id = ProjectRepository(db).create("offer").id
    repo = TraceRepository(db)
    writer = TraceWriter(repo)
    assert writer.offer(project_id, _spans(3)) is True
    writer.close()
    assert repo.count_spans(project_id) == 3 and writer.dropped == 0


def test_offer_drops_and_counts_when_the_queue_is_full(db: Database) -> None:
    project_id = ProjectRepository(db).create("full").id
    repo = TraceRepository(db)
    writer = TraceWriter(repo, max_pending_spans=5)
    gate = threading.Event()
    original = repo.insert

    def slow_insert(*args: object, **kwargs: object) -> int:
        gate.wait(10)  # hold the first commit so the queue stays full
        return original(*args, **kwargs)  # type: ignore[arg-type]

    repo.insert = slow_insert  # type: ignore[method-assignment]
    assert writer.offer(project_id, _spans(4)) is True
    started = time.monotonic()
    assert writer.offer(project_id, _spans(4)) is False  # 8 > 5 waiting: refused at once
    assert time.monotonic() - started < 1.0
    assert writer.dropped == 4
    gate.set()
    writer.close()
    assert repo.count_spans(project_id) == 4

    closed = TraceWriter(repo)
    closed.close()
    assert closed.offer(project_id, _spans(2)) is False and closed.dropped == 2


def test_a_batch_that_fails_to_commit_counts_as_dropped(db: Database) -> None:
    writer = TraceWriter(TraceRepository(db))
    assert writer.offer("no-such-project", _spans(2)) is True  # foreign key refuses it
    writer.close()
    assert writer.dropped == 2
