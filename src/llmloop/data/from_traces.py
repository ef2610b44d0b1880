"""Traces into a dataset: each trace becomes a record that keeps the link to its source.

A record's ``inputs`` are the root span's inputs (a non-object value is wrapped as
``{"input": …}``), its ``outputs`` the root span's outputs, and optionally its
``expectations`` too (to turn good production answers into test cases). The record id
is the trace id and ``metadata.source_trace_id`` names it, so adding a trace twice is
a no-op and a dataset record leads back to its trace. Adding commits a new immutable
version: the dataset's ``latest`` records followed by the new ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from llmloop.data.datasets import LATEST, Commit, Datasets
from llmloop.errors import ConflictError, NotFoundError, ValidationError
from llmloop.records import Frozen, Record, RecordSource
from llmloop.store import AuditRepository, Database
from llmloop.store.traces import TraceRepository, build_tree
from llmloop.store.traces_types import Span, SpanNode, TraceFilter

MAX_TRACES = 1000  # per request; larger selections go in several calls
ATTEMPTS = 3  # commits retried when another writer moved ``latest`` meanwhile


class SkippedTrace(Frozen):
    trace_id: str
    reason: str


class TracesAdded(Commit):
    """The version the traces were committed to, which were added and which skipped."""

    added: list[str] = Field(description="Trace ids that became records.")
    skipped: list[SkippedTrace] = Field(default_factory=list)


def _wrap(value: Any, key: str) -> dict[str, Any] | None:
    if value is None:
        return None
    return value if isinstance(value, dict) else {key: value}


def _preorder(nodes: list[SpanNode]) -> list[Span]:
    found: list[Span] = []
    for node in nodes:
        found.append(node.span)
        found += _preorder(node.children)
    return found


def _first(spans: Sequence[Span], side: str) -> Any:
    """The first value of ``side`` in tree order: the root's, else a descendant's."""
    return next((getattr(s, side) for s in spans if getattr(s, side) is not None), None)


def record_of_trace(
    trace_id: str, spans: Sequence[Span], *, expectations: bool = False
) -> Record | None:
    """The record for one trace's spans, or None when no span recorded inputs."""
    ordered = _preorder(build_tree(spans))
    if not ordered:
        return None
    inputs = _wrap(_first(ordered, "inputs"), "input")
    if inputs is None:
        return None
    outputs = _wrap(_first(ordered, "outputs"), "output")
    root = ordered[0]
    metadata: dict[str, Any] = {"source_trace_id": trace_id, "trace_name": root.name}
    optional = {
        "model": next((s.model for s in ordered if s.model), None),
        "user_id": next((s.user_id for s in ordered if s.user_id), None),
        "session_id": next((s.session_id for s in ordered if s.session_id), None),
        "tags": sorted({t for s in ordered for t in s.tags}) or None,
    }
    metadata.update({k: v for k, v in optional.items() if v is not None})
    return Record(
        id=trace_id,
        inputs=inputs,
        outputs=outputs,
        expectations=outputs if expectations else None,
        metadata=metadata,
        source=RecordSource(kind="trace", ref=trace_id),
    )


class TraceRecords:
    """Adds traces of a project to one of its datasets."""

    def __init__(self, db: Database, audit: AuditRepository) -> None:
        self.traces = TraceRepository(db)
        self.datasets = Datasets(db, audit)
        self.db = db

    def select(self, project_id: str, where: TraceFilter) -> list[str]:
        """Trace ids matching a filter, newest first (at most ``where.limit``)."""
        return [t.trace_id for t in self.traces.list(project_id, where)]

    def add(
        self,
        project_id: str,
        dataset: str,
        trace_ids: Sequence[str],
        *,
        actor: str,
        expectations: bool = False,
        create: bool = False,
        message: str = "",
    ) -> TracesAdded:
        """Commit the traces as records of ``dataset`` (all or nothing).

        Unknown trace ids fail the whole call (404, naming them); traces already in the
        dataset's ``latest`` version, or with no recorded inputs, are skipped and reported.
        """
        ids = _unique(trace_ids)
        records, skipped = self._records(project_id, ids, expectations)
        for _ in range(ATTEMPTS):
            try:
                return self._commit(
                    project_id, dataset, records, skipped, actor=actor, create=create,
                    message=message,
                )  # fmt: skip
            except _LatestMoved:
                continue
        raise ConflictError(
            f"dataset {dataset!r} kept changing while the traces were added; try again"
        )

    def _records(
        self, project_id: str, ids: list[str], expectations: bool
    ) -> tuple[list[Record], list[SkippedTrace]]:
        by_trace: dict[str, list[Span]] = {}
        for span in self.traces.spans_of_traces(project_id, ids):
            by_trace.setdefault(span.trace_id, []).append(span)
        missing = [i for i in ids if i not in by_trace]
        if missing:
            shown = ", ".join(repr(m) for m in missing[:5])
            raise NotFoundError(
                f"{len(missing)} trace(s) not found in this project: {shown}",
                details={"missing_trace_ids": missing[:100]},
            )
        records: list[Record] = []
        skipped: list[SkippedTrace] = []
        for trace_id in ids:
            record = record_of_trace(trace_id, by_trace[trace_id], expectations=expectations)
            if record is None:
                skipped.append(SkippedTrace(trace_id=trace_id, reason="no span recorded inputs"))
            else:
                records.append(record)
        return records, skipped

    def _commit(
        self,
        project_id: str,
        name: str,
        records: list[Record],
        skipped: list[SkippedTrace],
        *,
        actor: str,
        create: bool,
        message: str,
    ) -> TracesAdded:
        data = self.datasets
        base_version, base = self._latest(project_id, name, create=create)
        present = {r.id for r in base}
        new = [r for r in records if r.id not in present]
        skipped = skipped + [
            SkippedTrace(trace_id=r.id, reason="already in the dataset")
            for r in records
            if r.id in present
        ]
        if not base and not new:
            raise ValidationError(
                "none of the traces could become a record: "
                + "; ".join(f"{s.trace_id}: {s.reason}" for s in skipped[:5]),
                details={"skipped": [s.model_dump() for s in skipped[:100]]},
            )
        message = message or f"{len(new)} record(s) from traces"
        with self.db.begin() as conn:
            dataset = data.get_or_create(conn, project_id, name, create=create, actor=actor)
            data.repo.lock(project_id, dataset.id, conn)
            latest = data.repo.alias(dataset.id, LATEST, conn=conn)
            if (latest.version_id if latest else None) != base_version:
                raise _LatestMoved
            commit = data.commit_in(
                conn, dataset, [*base, *new], actor=actor, message=message,
                parent_id=base_version,
            )  # fmt: skip
        return TracesAdded(**dict(commit), added=[r.id for r in new], skipped=skipped)

    def _latest(
        self, project_id: str, name: str, *, create: bool
    ) -> tuple[str | None, list[Record]]:
        """The ``latest`` version id and its records ((None, []) for a new dataset)."""
        try:
            dataset = self.datasets.get(project_id, name)
        except NotFoundError:
            if not create:
                raise NotFoundError(
                    f"dataset {name!r} not found; create it first or pass create=true"
                ) from None
            return None, []
        latest = self.datasets.repo.alias(dataset.id, LATEST)
        if latest is None:
            return None, []
        return latest.version_id, self.datasets.repo.records(dataset.id, latest.version_id)


class _LatestMoved(Exception):
    """Another commit moved ``latest`` between reading it and committing on top of it."""


def _unique(trace_ids: Sequence[str]) -> list[str]:
    ids = list(dict.fromkeys(t.strip().lower() for t in trace_ids))
    if not ids:
        raise ValidationError("give at least one trace id (or a filter that matches traces)")
    if len(ids) > MAX_TRACES:
        raise ValidationError(f"{len(ids)} traces in one call; add at most {MAX_TRACES} at a time")
    bad = [t for t in ids if len(t) != 32 or any(c not in "0123456789abcdef" for c in t)]
    if bad:
        raise ValidationError(
            f"trace ids are 32 hex characters; got {', '.join(repr(b[:40]) for b in bad[:5])}",
            details=[{"field": "trace_ids", "invalid": bad[:20]}],
        )
    return ids
