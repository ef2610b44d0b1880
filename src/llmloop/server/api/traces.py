"""Traces of the caller's project: list with filters, one trace's span tree, scores."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator

from llmloop.records import Score, ScoreSource, ScoreValue
from llmloop.server.deps import Editor, ProjectDep, RuntimeDep, Viewer
from llmloop.store.trace_stats_types import TraceStatsQuery, TraceStatsRow
from llmloop.store.traces_types import Span, Trace, TraceDetail, TraceFilter
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
