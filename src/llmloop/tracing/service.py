"""The tracing feature's queries and score attachment, over the trace repository."""

from __future__ import annotations

from datetime import datetime

from llmloop.records import Score
from llmloop.store.database import Database
from llmloop.store.traces import TraceRepository
from llmloop.store.traces_types import PruneResult, Trace, TraceDetail, TraceFilter


class TraceService:
    def __init__(self, db: Database) -> None:
        self.repo = TraceRepository(db)

    def list(self, project_id: str, where: TraceFilter | None = None) -> list[Trace]:
        return self.repo.list(project_id, where)

    def detail(self, project_id: str, trace_id: str) -> TraceDetail:
        trace = self.repo.get(project_id, trace_id)
        return TraceDetail(
            trace=trace,
            spans=self.repo.tree(project_id, trace_id),
            scores=self.repo.scores(project_id, trace_id),
        )

    def prune(
        self, project_id: str | None, older_than: datetime, *, batch_size: int = 1000
    ) -> PruneResult:
        """Delete traces started before ``older_than`` (one project, or every project when
        ``project_id`` is None), in bounded batches; the counts of rows deleted."""
        return self.repo.prune(project_id, older_than, batch_size=batch_size)

    def add_score(self, project_id: str, trace_id: str, score: Score) -> Score:
        """Attach a score to a trace (``target_kind="trace"``) or one of its spans."""
        return self.repo.add_score(project_id, trace_id, score)
