"""The trace writer: a bounded queue of span batches and one thread that commits them.

Design (durability and back-pressure):

* A request's spans become one job in an in-memory queue bounded by a number of spans.
  When the queue is full the receiver answers ``503`` with ``Retry-After`` (OTLP
  exporters retry), so memory stays bounded and nothing is silently dropped.
* One writer thread takes every job waiting (up to ``max_batch_spans``) and inserts them
  in a single transaction, one insert per project: a group commit. While it commits,
  new jobs pile up and go into the next transaction, so the commit cost is shared as
  load grows.
* A job's future resolves only after its transaction has committed, and the receiver
  answers ``2xx`` only then. SQLite runs in WAL mode with ``synchronous=NORMAL``: a
  committed transaction survives the process being killed (SIGKILL); only an OS crash
  or power loss can lose the last commits. PostgreSQL commits are durable (fsync).
  Spans still in the queue were never acknowledged, so the exporter retries them; a
  retry of spans already stored is harmless because span ids are idempotent.
* If a group transaction fails, its jobs are retried one by one, so one bad request
  fails alone and the others still commit.
* The thread exits after ``idle_exit_s`` without work and is started again on demand.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

from llmloop.errors import LlmloopError
from llmloop.store.traces import TraceRepository
from llmloop.store.traces_types import Span

log = logging.getLogger("llmloop.tracing.writer")


class WriterBusy(LlmloopError):
    """The queue is full (or the writer is closing): try again after ``retry_after_s``."""

    code = "unavailable"
    status = 503

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _Job:
    project_id: str
    spans: list[Span]
    future: Future[int] = field(default_factory=Future)


def _by_project(batch: list[_Job]) -> dict[str, list[Span]]:
    """The group's spans per project, in order: one insert (a few statements) each."""
    out: dict[str, list[Span]] = {}
    for job in batch:
        out.setdefault(job.project_id, []).extend(job.spans)
    return out


class TraceWriter:
    def __init__(
        self,
        repo: TraceRepository,
        *,
        max_pending_spans: int = 200_000,
        max_batch_spans: int = 20_000,
        idle_exit_s: float = 5.0,
    ) -> None:
        self.repo = repo
        self.max_pending_spans = max_pending_spans
        self.max_batch_spans = max_batch_spans
        self.idle_exit_s = idle_exit_s
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self.commits = 0
        self.spans_written = 0
        self.dropped = 0

    @property
    def pending_spans(self) -> int:
        return self._pending

    def submit(self, project_id: str, spans: list[Span]) -> Future[int]:
        """Queue ``spans``; the future gives the number of traces touched once committed."""
        job = _Job(project_id, spans)
        if not spans:
            job.future.set_result(0)
            return job.future
        with self._cond:
            if self._closed:
                raise WriterBusy("the trace writer is shutting down; retry shortly")
            if self._pending and self._pending + len(spans) > self.max_pending_spans:
                raise WriterBusy(
                    f"trace ingestion queue is full ({self._pending} spans waiting); retry"
                )
            self._jobs.append(job)
            self._pending += len(spans)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="llmloop-trace-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return job.future

    def offer(self, project_id: str, spans: list[Span]) -> bool:
        """Queue ``spans`` without waiting for their commit (fire and forget).

        For callers that must never slow down, such as the gateway recording its own
        traffic: True when queued; False when the queue is full or the writer is
        closing, in which case the spans are dropped and counted in :attr:`dropped`.
        A queued batch that later fails to commit is logged and counted there too.
        """
        try:
            future = self.submit(project_id, spans)
        except WriterBusy:
            with self._cond:
                self.dropped += len(spans)
            return False
        future.add_done_callback(lambda done: self._count_failure(done, len(spans)))
        return True

    def _count_failure(self, done: Future[int], n: int) -> None:
        if done.exception() is not None:
            with self._cond:
                self.dropped += n

    def write(self, project_id: str, spans: list[Span], timeout: float | None = None) -> int:
        """Submit and wait for the commit."""
        return self.submit(project_id, spans).result(timeout)

    def _take(self) -> list[_Job] | None:
        with self._cond:
            if not self._jobs and not self._closed:
                self._cond.wait(self.idle_exit_s)
            if not self._jobs:
                self._thread = None
                return None
            batch: list[_Job] = []
            size = 0
            while self._jobs and (
                not batch or size + len(self._jobs[0].spans) <= self.max_batch_spans
            ):
                job = self._jobs.popleft()
                batch.append(job)
                size += len(job.spans)
            return batch

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    self._pending -= sum(len(j.spans) for j in batch)

    def _commit(self, batch: list[_Job]) -> None:
        try:
            with self.repo.db.begin() as conn:
                for project_id, items in _by_project(batch).items():
                    self.repo.insert(project_id, items, conn=conn)
        except Exception as exc:  # one bad job must not fail the group: retry alone
            if len(batch) == 1:
                log.warning("trace batch of %d spans refused: %s", len(batch[0].spans), exc)
                batch[0].future.set_exception(exc)
                return
            for job in batch:
                self._commit([job])
            return
        self.commits += 1
        self.spans_written += sum(len(j.spans) for j in batch)
        for job in batch:
            job.future.set_result(len({s.trace_id for s in job.spans}))

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout)
