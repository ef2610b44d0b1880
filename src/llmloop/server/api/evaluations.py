"""Evaluation runs: start one (in the foreground or the background), resume, cancel,
list, inspect, compare, gate."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, model_validator

from llmloop.errors import ConflictError
from llmloop.evaluation import Comparison, GateReport, ModelTarget, compare_stored
from llmloop.evaluation import run_gate as check_gate
from llmloop.evaluation.background import background_runs
from llmloop.evaluation.runner import PreparedRun, prepare_evaluation, prepare_resume
from llmloop.runtime import Runtime
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
    records: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=10_000)
    dataset: str | None = Field(
        default=None,
        max_length=300,
        description="A stored dataset instead of records: 'name' or 'name@alias|vN|id'.",
        examples=["tickets@golden"],
    )
    scorers: list[str | dict[str, Any]] = Field(
        min_length=1, description="Scorer kinds, or {'kind': ..., 'config': {...}} specs."
    )
    prompt: str | None = Field(default=None, description="User-message template, '{question}'.")
    template: Literal["format", "jinja"] = Field(
        default="format", description="'format' ({question}) or 'jinja' ({{ question }})."
    )
    system: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="Chat parameters.")
    name: str | None = Field(default=None, max_length=200)
    dataset_ref: str | None = Field(default=None, max_length=500)
    concurrency: int = Field(default=16, ge=1, le=256)
    cache: bool = True
    resamples: int = Field(default=1000, ge=10, le=10_000)
    background: bool = Field(
        default=False,
        description="Answer 202 at once with the running run; follow it with GET (n_done).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> RunCreate:
        if (self.records is None) == (self.dataset is None):
            raise ValueError("give either 'records' or 'dataset' (a stored dataset), not both")
        return self


class RunResume(BaseModel):
    records: list[dict[str, Any]] | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        description="The run's records again, when it was given records inline.",
    )
    background: bool = False


class GateRequest(BaseModel):
    rules: list[str] = Field(default_factory=list, examples=[["accuracy>=0.9", "delta(f1)>=-0.01"]])
    baseline: str | None = Field(default=None, description="Run id for delta rules.")
    resamples: int = Field(default=1000, ge=10, le=10_000)
    require_golden: bool = Field(
        default=False, description="Fail unless the run was on its dataset's golden version."
    )


async def stop_background(runtime: Runtime) -> None:
    """Cancel the runs this server executes in the background (they become interrupted)."""
    await background_runs(runtime).shutdown()


async def _launch(prepared: PreparedRun, runtime: Runtime, background: bool) -> EvalRun:
    if not background:
        return await prepared.execute()
    background_runs(runtime).start(prepared.run.id, prepared.execute())
    return prepared.run


@router.get(BASE, summary="Evaluation runs, newest first.")
def list_runs(
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[EvalRun]:
    return EvaluationRepository(runtime.db).list(project.id, limit=limit, offset=offset)


@router.post(
    BASE,
    status_code=201,
    summary="Run an evaluation and store it; with background, answer 202 while it runs.",
    responses={202: {"description": "Started in the background.", "model": EvalRun}},
)
async def create_run(
    body: RunCreate, project: ProjectDep, principal: Editor, runtime: RuntimeDep, response: Response
) -> EvalRun:
    target = (
        ModelTarget(
            body.target,
            prompt=body.prompt,
            system=body.system,
            params=body.params,
            template=body.template,
        )
        if body.target
        else None
    )
    prepared = await prepare_evaluation(
        target,
        body.records if body.records is not None else str(body.dataset),
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
    if body.background:
        response.status_code = 202
    return await _launch(prepared, runtime, body.background)


@router.post(
    BASE + "/{run_id}/resume",
    summary="Resume an interrupted run, skipping records already scored.",
    responses={202: {"description": "Resumed in the background.", "model": EvalRun}},
)
async def resume_run(
    run_id: str,
    body: RunResume,
    project: ProjectDep,
    _: Editor,
    runtime: RuntimeDep,
    response: Response,
) -> EvalRun:
    prepared = await prepare_resume(
        run_id, runtime=runtime, project=project.name, records=body.records
    )
    if body.background:
        response.status_code = 202
    return await _launch(prepared, runtime, body.background)


@router.post(BASE + "/{run_id}/cancel", summary="Stop a background run; it can be resumed.")
async def cancel_run(run_id: str, project: ProjectDep, _: Editor, runtime: RuntimeDep) -> EvalRun:
    repo = EvaluationRepository(runtime.db)
    run = repo.get(project.id, run_id)
    runs = background_runs(runtime)
    if not runs.cancel(run.id):
        raise ConflictError(f"run {run_id!r} is {run.status}, not running in this server")
    await runs.wait(run.id)
    return repo.get(project.id, run_id)


@router.get(BASE + "/{run_id}", summary="One run with its aggregates and progress (n_done).")
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
        repo,
        project.id,
        run_id,
        body.rules,
        baseline=body.baseline,
        resamples=body.resamples,
        require_golden=body.require_golden,
    )
