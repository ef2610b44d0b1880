"""Experiments: a matrix of prompts x models x parameters over one dataset version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from llmloop.errors import ConflictError
from llmloop.evaluation.background import background_runs
from llmloop.evaluation.experiments import (
    ExperimentReport,
    execute_experiment,
    prepare_experiment,
    report,
)
from llmloop.server.deps import Editor, ProjectDep, RuntimeDep, Viewer
from llmloop.store.evaluations import EvaluationRepository
from llmloop.store.experiments import Experiment, ExperimentRepository

router = APIRouter(tags=["experiments"])

BASE = "/projects/{project}/experiments"


class ExperimentCreate(BaseModel):
    dataset: str = Field(
        min_length=1,
        max_length=300,
        description="The dataset version all cells run on: 'name' or 'name@alias|vN|id'.",
        examples=["tickets@golden"],
    )
    models: list[str] = Field(min_length=1, max_length=32, examples=[["openai/gpt-4o-mini"]])
    prompts: dict[str, str] | list[str] | None = Field(
        default=None,
        description="Jinja2 templates ({{ question }}) by label, or 'prompt:<name>@<ref>'.",
    )
    params: dict[str, list[Any]] | list[dict[str, Any]] | None = Field(
        default=None, description="{'temperature': [0, 0.7]} (a grid) or a list of sets."
    )
    system: str | None = None
    scorers: list[str | dict[str, Any]] = Field(min_length=1)
    name: str | None = Field(default=None, max_length=200)
    baseline: str | None = Field(default=None, description="Key of the baseline cell.")
    concurrency: int = Field(default=16, ge=1, le=256)
    cache: bool = True
    resamples: int = Field(default=1000, ge=10, le=10_000)
    background: bool = False


def _repos(runtime: Any) -> tuple[ExperimentRepository, EvaluationRepository]:
    return ExperimentRepository(runtime.db), EvaluationRepository(runtime.db)


@router.get(BASE, summary="Experiments, newest first.")
def list_experiments(
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Experiment]:
    return ExperimentRepository(runtime.db).list(project.id, limit=limit)


@router.post(
    BASE,
    status_code=201,
    summary="Run an experiment; with background, answer 202 while it runs.",
    responses={202: {"description": "Started in the background.", "model": Experiment}},
)
async def create_experiment(
    body: ExperimentCreate,
    project: ProjectDep,
    principal: Editor,
    runtime: RuntimeDep,
    response: Response,
) -> Experiment:
    exp, targets, source = await prepare_experiment(
        body.dataset,
        models=body.models,
        scorers=body.scorers,
        runtime=runtime,
        prompts=body.prompts,
        params=body.params,
        system=body.system,
        name=body.name,
        baseline=body.baseline,
        project=project.name,
        actor=principal.actor,
    )
    work = execute_experiment(
        exp,
        targets,
        source,
        runtime=runtime,
        concurrency=body.concurrency,
        cache=body.cache,
        resamples=body.resamples,
        actor=principal.actor,
    )
    if body.background:
        background_runs(runtime).start(exp.id, work)
        response.status_code = 202
        return exp
    return await work


@router.get(BASE + "/{experiment_id}", summary="One experiment: axes, cells and their runs.")
def get_experiment(
    experiment_id: str, project: ProjectDep, _: Viewer, runtime: RuntimeDep
) -> Experiment:
    return ExperimentRepository(runtime.db).get(project.id, experiment_id)


@router.get(
    BASE + "/{experiment_id}/report",
    summary="Side by side: aggregates with intervals, best cell per metric, paired deltas.",
)
def experiment_report(
    experiment_id: str,
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    baseline: Annotated[str | None, Query(description="Baseline cell key.")] = None,
    resamples: Annotated[int, Query(ge=10, le=10_000)] = 1000,
) -> ExperimentReport:
    experiments, runs = _repos(runtime)
    return report(
        experiments, runs, project.id, experiment_id, baseline=baseline, resamples=resamples
    )


@router.post(BASE + "/{experiment_id}/cancel", summary="Stop a background experiment.")
async def cancel_experiment(
    experiment_id: str, project: ProjectDep, _: Editor, runtime: RuntimeDep
) -> Experiment:
    repo = ExperimentRepository(runtime.db)
    exp = repo.get(project.id, experiment_id)
    runs = background_runs(runtime)
    if not runs.cancel(exp.id):
        raise ConflictError(f"experiment {experiment_id!r} is {exp.status}, not running here")
    await runs.wait(exp.id)
    return repo.get(project.id, experiment_id)
