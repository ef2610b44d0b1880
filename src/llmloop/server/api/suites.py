"""Evaluation suites: run robustness, fairness, bias and calibration suites against a
model; read a suite run's report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from llmloop.evaluation.suites import (
    abbq,
    acalibration,
    acrows_pairs,
    afairness,
    arobustness,
    stored_report,
)
from llmloop.evaluation.suites.perturb import DEFAULT_PERTURBATIONS
from llmloop.evaluation.suites.report import SuiteReport
from llmloop.evaluation.targets import ModelTarget
from llmloop.server.deps import Editor, ProjectDep, RuntimeDep, Viewer
from llmloop.store.evaluations import EvaluationRepository

router = APIRouter(tags=["suites"])

BASE = "/projects/{project}/suites"
Records = Annotated[list[dict[str, Any]], Field(min_length=1, max_length=10_000)]
Scorers = Annotated[list[str | dict[str, Any]], Field(min_length=1)]


class _Run(BaseModel):
    target: str = Field(description="Model reference (provider/name).", examples=["local/tickets"])
    system: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="Chat parameters.")
    name: str | None = Field(default=None, max_length=200)
    dataset_ref: str | None = Field(default=None, max_length=500)
    concurrency: int = Field(default=16, ge=1, le=256)
    cache: bool = True
    resamples: int = Field(default=1000, ge=10, le=10_000)
    seed: int = 0

    def options(self) -> dict[str, Any]:
        return self.model_dump(
            include={"name", "dataset_ref", "concurrency", "cache", "resamples", "seed"}
        )


class _Prompted(_Run):
    prompt: str | None = Field(default=None, description="User-message template, '{question}'.")

    def model_target(self) -> ModelTarget:
        return ModelTarget(self.target, prompt=self.prompt, system=self.system, params=self.params)


class RobustnessRun(_Prompted):
    records: Records
    scorers: Scorers
    field: str | None = Field(default=None, description="Input field to perturb.")
    perturbations: list[str] = Field(default_factory=lambda: list(DEFAULT_PERTURBATIONS))
    output_field: str | None = None
    examples: int = Field(default=5, ge=0, le=100)


class FairnessRun(_Prompted):
    records: Records
    scorers: Scorers
    group_by: list[str] = Field(default_factory=list, description="Metadata keys.")
    probes: list[Literal["names", "gender", "dialect"]] = Field(default_factory=list)
    field: str | None = None
    output_field: str | None = None
    min_group_size: int = Field(default=1, ge=1)
    examples: int = Field(default=5, ge=0, le=100)


class CalibrationRun(_Prompted):
    records: Records
    scorers: Scorers
    correct_score: str | None = None
    confidence_field: str = "probability"
    logprob_field: str | None = None
    bins: int = Field(default=10, ge=1, le=100)


class BbqRun(_Run):
    items: Records
    prompt: str | None = Field(
        default=None, description="Template with context, question, options."
    )


class CrowsPairsRun(_Run):
    items: Records
    prompt: str | None = Field(default=None, description="Template with options.")


def _chat_target(body: _Run) -> ModelTarget:
    return ModelTarget(body.target, system=body.system, params=body.params)


def _suite_options(body: BaseModel, *fields: str) -> dict[str, Any]:
    return {k: getattr(body, k) for k in fields}


@router.post(BASE + "/robustness", status_code=201, summary="Run a robustness suite.")
async def run_robustness(
    body: RobustnessRun, project: ProjectDep, principal: Editor, runtime: RuntimeDep
) -> SuiteReport:
    return await arobustness(
        body.model_target(),
        body.records,
        body.scorers,
        runtime=runtime,
        project=project.name,
        actor=principal.actor,
        **_suite_options(body, "field", "perturbations", "output_field", "examples"),
        **body.options(),
    )


@router.post(BASE + "/fairness", status_code=201, summary="Run a fairness suite.")
async def run_fairness(
    body: FairnessRun, project: ProjectDep, principal: Editor, runtime: RuntimeDep
) -> SuiteReport:
    return await afairness(
        body.model_target(),
        body.records,
        body.scorers,
        runtime=runtime,
        project=project.name,
        actor=principal.actor,
        **_suite_options(
            body, "group_by", "probes", "field", "output_field", "min_group_size", "examples"
        ),
        **body.options(),
    )


@router.post(BASE + "/calibration", status_code=201, summary="Run a calibration suite.")
async def run_calibration(
    body: CalibrationRun, project: ProjectDep, principal: Editor, runtime: RuntimeDep
) -> SuiteReport:
    return await acalibration(
        body.model_target(),
        body.records,
        body.scorers,
        runtime=runtime,
        project=project.name,
        actor=principal.actor,
        **_suite_options(body, "correct_score", "confidence_field", "logprob_field", "bins"),
        **body.options(),
    )


@router.post(BASE + "/bbq", status_code=201, summary="Run a BBQ-style bias benchmark.")
async def run_bbq(
    body: BbqRun, project: ProjectDep, principal: Editor, runtime: RuntimeDep
) -> SuiteReport:
    extra: dict[str, Any] = {"prompt": body.prompt} if body.prompt else {}
    return await abbq(
        _chat_target(body),
        body.items,
        runtime=runtime,
        project=project.name,
        actor=principal.actor,
        **extra,
        **body.options(),
    )


@router.post(BASE + "/crows_pairs", status_code=201, summary="Run a CrowS-Pairs-style benchmark.")
async def run_crows_pairs(
    body: CrowsPairsRun, project: ProjectDep, principal: Editor, runtime: RuntimeDep
) -> SuiteReport:
    extra: dict[str, Any] = {"prompt": body.prompt} if body.prompt else {}
    return await acrows_pairs(
        _chat_target(body),
        body.items,
        runtime=runtime,
        project=project.name,
        actor=principal.actor,
        method="choice",
        **extra,
        **body.options(),
    )


@router.get(BASE, summary="Suite runs, newest first.")
def list_reports(
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SuiteReport]:
    repo = EvaluationRepository(runtime.db)
    runs = repo.list(project.id, limit=limit * 5)
    reports = [SuiteReport.model_validate(r.details["suite"]) for r in runs if "suite" in r.details]
    return reports[:limit]


@router.get(BASE + "/{run_id}", summary="The report of one suite run.")
def get_report(run_id: str, project: ProjectDep, _: Viewer, runtime: RuntimeDep) -> SuiteReport:
    return stored_report(EvaluationRepository(runtime.db), project.id, run_id)
