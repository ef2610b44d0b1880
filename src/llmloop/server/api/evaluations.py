"""Evaluation runs: start one against a model, list, inspect, compare, gate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from llmloop.evaluation import Comparison, GateReport, ModelTarget, aevaluate, compare_stored
from llmloop.evaluation import run_gate as check_gate
from llmloop.server.deps import Editor, ProjectDep, RuntimeDep, Viewer
from llmloop.store.evaluations import EvalResult, EvalRun, EvaluationRepository

router = APIRouter(tags=["evaluations"])

BASE = "/projects/{project}/evaluations"


class RunCreate(BaseModel):
    target: str | None = Field(
        default=None,
        description="Model reference (provider/name); omit to score the records' own outputs.",
        examples=["local/ticket-assistant"],
    )
    records: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    scorers: list[str | dict[str, Any]] = Field(
        min_length=1, description="Scorer kinds, or {'kind': ..., 'config': {...}} specs."
    )
    prompt: str | None = Field(default=None, description="User-message template, '{question}'.")
    system: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="Chat parameters.")
    name: str | None = Field(default=None, max_length=200)
    dataset_ref: str | None = Field(default=None, max_length=500)
    concurrency: int = Field(default=16, ge=1, le=256)
    cache: bool = True
    resamples: int = Field(default=1000, ge=10, le=10_000)


class GateRequest(BaseModel):
    rules: list[str] = Field(min_length=1, examples=[["accuracy>=0.9", "delta(f1)>=-0.01"]])
    baseline: str | None = Field(default=None, description="Run id for delta rules.")
    resamples: int = Field(default=1000, ge=10, le=10_000)


@router.get(BASE, summary="Evaluation runs, newest first.")
def list_runs(
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[EvalRun]:
    return EvaluationRepository(runtime.db).list(project.id, limit=limit, offset=offset)


@router.post(BASE, status_code=201, summary="Run an evaluation and store it.")
async def create_run(
    body: RunCreate, project: ProjectDep, principal: Editor, runtime: RuntimeDep
) -> EvalRun:
    target = (
        ModelTarget(body.target, prompt=body.prompt, system=body.system, params=body.params)
        if body.target
        else None
    )
    return await aevaluate(
        target,
        body.records,
        body.scorers,
        runtime=runtime,
        project=project.name,
        name=body.name,
        dataset_ref=body.dataset_ref,
        actor=principal.actor,
        concurrency=body.concurrency,
        cache=body.cache,
        resamples=body.resamples,
    )


@router.get(BASE + "/{run_id}", summary="One run with its aggregates.")
def get_run(run_id: str, project: ProjectDep, _: Viewer, runtime: RuntimeDep) -> EvalRun:
    return EvaluationRepository(runtime.db).get(project.id, run_id)


@router.get(BASE + "/{run_id}/results", summary="Per-record results of a run.")
def list_results(
    run_id: str,
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[EvalResult]:
    repo = EvaluationRepository(runtime.db)
    return repo.results(project.id, run_id, limit=limit, offset=offset)


@router.get(BASE + "/{run_id}/compare", summary="Paired comparison against a baseline run.")
def compare(
    run_id: str,
    baseline: Annotated[str, Query(description="The baseline run id.")],
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    resamples: Annotated[int, Query(ge=10, le=10_000)] = 1000,
) -> Comparison:
    repo = EvaluationRepository(runtime.db)
    return compare_stored(repo, project.id, baseline, run_id, resamples=resamples)


@router.post(BASE + "/{run_id}/gate", summary="Check gate rules; 'passed' says the verdict.")
def gate(
    run_id: str, body: GateRequest, project: ProjectDep, _: Viewer, runtime: RuntimeDep
) -> GateReport:
    repo = EvaluationRepository(runtime.db)
    return check_gate(
        repo, project.id, run_id, body.rules, baseline=body.baseline, resamples=body.resamples
    )
