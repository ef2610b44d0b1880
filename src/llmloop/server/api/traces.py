"""Traces of the caller's project: list with filters, one trace's span tree, scores,
traces into a dataset, retention."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator, model_validator

from llmloop.data.from_traces import MAX_TRACES, TraceRecords, TracesAdded
from llmloop.records import Score, ScoreSource, ScoreValue, utcnow
from llmloop.server.deps import Admin, Editor, ProjectDep, RuntimeDep, Viewer
from llmloop.store.trace_stats_types import TraceStatsQuery, TraceStatsRow
from llmloop.store.traces_types import PruneResult, Span, Trace, TraceDetail, TraceFilter
from llmloop.tracing.service import TraceService

router = APIRouter(tags=["traces"])


class ScoreCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["helpfulness"])
    value: ScoreValue = Field(description="A number, a label or a boolean.")
    source: str = Field(default="human", description="metric, judge:<model>, human:<who>, user …")
    span_id: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{16}$", description="Score a span instead."
    )
    rationale: str | None = Field(default=None, max_length=10_000)
    scorer_version: str | None = Field(default=None, max_length=200)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        ScoreSource.parse(value)  # ValueError naming the known sources
        return value


def _service(runtime: RuntimeDep) -> TraceService:
    return TraceService(runtime.db)


@router.get("/projects/{project}/traces", summary="Traces, newest first, with filters.")
def list_traces(
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    where: Annotated[TraceFilter, Query()],
) -> list[Trace]:
    return _service(runtime).list(project.id, where)


@router.get(
    "/projects/{project}/traces/stats",
    summary="Traces per time bucket: count, tokens, cost, p50/p95 latency, error rate.",
)
def trace_stats(
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    query: Annotated[TraceStatsQuery, Query()],
) -> list[TraceStatsRow]:
    return _service(runtime).repo.stats(project.id, query)


@router.get(
    "/projects/{project}/traces/spans",
    summary="Every span of the traces matching the filters (one page of traces), to export.",
)
def trace_spans(
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    where: Annotated[TraceFilter, Query()],
) -> list[Span]:
    repo = _service(runtime).repo
    trace_ids = [t.trace_id for t in repo.list(project.id, where)]
    return repo.spans_of_traces(project.id, trace_ids)


@router.get("/projects/{project}/traces/{trace_id}", summary="A trace with its span tree.")
def get_trace(trace_id: str, project: ProjectDep, _: Viewer, runtime: RuntimeDep) -> TraceDetail:
    return _service(runtime).detail(project.id, trace_id)


@router.post(
    "/projects/{project}/traces/{trace_id}/scores",
    status_code=201,
    summary="Attach a score to a trace or one of its spans.",
)
def add_score(
    trace_id: str, body: ScoreCreate, project: ProjectDep, principal: Editor, runtime: RuntimeDep
) -> Score:
    kind: Literal["trace", "span"] = "span" if body.span_id else "trace"
    score = Score(
        target_kind=kind,
        target_id=body.span_id or trace_id,
        name=body.name,
        value=body.value,
        rationale=body.rationale,
        source=body.source,
        scorer_version=body.scorer_version,
    )
    return _service(runtime).add_score(project.id, trace_id, score)


class TracesToDataset(BaseModel):
    """Which traces to add (ids, or a filter) and how to turn them into records."""

    trace_ids: list[str] | None = Field(
        default=None, max_length=MAX_TRACES, description="Trace ids (32 hex characters)."
    )
    filter: TraceFilter | None = Field(
        default=None, description="Instead of ids: the traces matching this (up to its limit)."
    )
    expectations_from_outputs: bool = Field(
        default=False, description="Copy each trace's outputs into the record's expectations."
    )
    create: bool = Field(default=False, description="Create the dataset when missing.")
    message: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _one_selection(self) -> TracesToDataset:
        if (self.trace_ids is None) == (self.filter is None):
            raise ValueError("give either trace_ids or filter (exactly one)")
        return self


@router.post(
    "/projects/{project}/datasets/{dataset}/records/from-traces",
    status_code=201,
    summary="Add traces to a dataset as records linked to them (commits a new version).",
)
def add_traces_to_dataset(
    dataset: str, body: TracesToDataset, project: ProjectDep, principal: Editor, runtime: RuntimeDep
) -> TracesAdded:
    service = TraceRecords(runtime.db, runtime.tenancy.audit)
    ids = body.trace_ids if body.filter is None else service.select(project.id, body.filter)
    return service.add(
        project.id,
        dataset,
        ids or [],
        actor=principal.actor,
        expectations=body.expectations_from_outputs,
        create=body.create,
        message=body.message,
    )


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w`` or ``45s`` as a timedelta (ValueError otherwise)."""
    match = DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a duration: use a positive number and a unit, e.g. 30d, 12h, 2w"
        )
    return timedelta(**{UNITS[match.group(2)]: float(match.group(1))})


class PruneRequest(BaseModel):
    older_than: str = Field(
        description="Delete traces that started longer ago than this: 30d, 12h, 2w …",
        examples=["30d"],
    )
    batch_size: int = Field(
        default=1000, ge=10, le=50_000, description="Traces per batch (one short transaction)."
    )

    @field_validator("older_than")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class TracesPruned(PruneResult):
    before: datetime = Field(description="Traces that started before this were deleted.")


@router.post(
    "/projects/{project}/traces/prune",
    summary="Retention: delete this project's traces older than a duration, in batches.",
)
def prune_traces(
    body: PruneRequest, project: ProjectDep, principal: Admin, runtime: RuntimeDep
) -> TracesPruned:
    before = utcnow() - parse_duration(body.older_than)
    deleted = _service(runtime).prune(project.id, before, batch_size=body.batch_size)
    runtime.tenancy.audit.record(
        project.id,
        actor=principal.actor,
        action="traces.prune",
        object_type="traces",
        object_id=project.id,
        data={"older_than": body.older_than, "before": before.isoformat(),
              **deleted.model_dump(include={"traces", "spans", "scores"})},
    )  # fmt: skip
    return TracesPruned(**deleted.model_dump(), before=before)
