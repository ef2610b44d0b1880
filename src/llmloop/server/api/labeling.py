"""Weak supervision on datasets: label matrices, analysis, label-model fits, simulations,
and the representativeness (coverage) report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends
from pydantic import BaseModel, Field

from llmloop.data.representativeness import CoverageReport, CoverageRequest, Representativeness
from llmloop.labeling.service import (
    FitOutcome,
    Labeling,
    LabelsWritten,
    LatestFit,
    MatrixAnalysis,
    SimulationRequest,
)
from llmloop.labeling.specs import LFSpec
from llmloop.server.deps import Editor, ProjectDep, RuntimeDep, Viewer
from llmloop.store.label_matrices import StoredMatrix, StoredSimulation

router = APIRouter(tags=["labeling"])
DATASET = "/projects/{project}/datasets/{dataset}"
MATRICES = DATASET + "/label-matrices"
MATRIX = MATRICES + "/{matrix}"


def get_labeling(runtime: RuntimeDep) -> Labeling:
    return Labeling(
        runtime.db,
        runtime.tenancy.audit,
        data_dir=runtime.settings.data_dir,
        providers=runtime.providers,
    )


LabelingDep = Annotated[Labeling, Depends(get_labeling)]


class ApplyRequest(BaseModel):
    functions: list[LFSpec] = Field(min_length=1, description="Labeling functions as data.")
    classes: list[str] = Field(min_length=2, description="The task's class names.")
    version: str | None = Field(default=None, description="Alias, number or id; default latest.")
    name: str = Field(default="default", min_length=1, max_length=100)
    gold_field: str | None = Field(
        default=None, description="expectations key holding gold labels, where known."
    )
    replace: bool = Field(default=False, description="Replace a matrix of the same name.")


class FitRequest(BaseModel):
    class_balance: str = Field(default="votes", description="'votes' or 'learn'.")
    seed: int = 0


class WriteLabelsRequest(BaseModel):
    field: str = Field(min_length=1, max_length=200, description="expectations key to write.")
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)


class SimulateRequest(SimulationRequest):
    version: str | None = None


@router.post(
    MATRICES, status_code=202, summary="Apply labeling functions to a version (in background)."
)
def apply_functions(
    dataset: str,
    body: ApplyRequest,
    background: BackgroundTasks,
    project: ProjectDep,
    principal: Editor,
    labeling: LabelingDep,
) -> StoredMatrix:
    matrix, job = labeling.start_apply(
        project.id, dataset, specs=body.functions, classes=body.classes, version=body.version,
        name=body.name, gold_field=body.gold_field, replace=body.replace, actor=principal.actor,
    )  # fmt: skip
    background.add_task(job)
    return matrix


@router.get(MATRICES, summary="Label matrices of a dataset, newest first.")
def list_matrices(
    dataset: str, project: ProjectDep, _: Viewer, labeling: LabelingDep
) -> list[StoredMatrix]:
    return labeling.matrices(project.id, dataset)


@router.get(MATRIX, summary="One label matrix: status, progress, functions, failures.")
def get_matrix(
    dataset: str, matrix: str, project: ProjectDep, _: Viewer, labeling: LabelingDep
) -> StoredMatrix:
    return labeling.matrix(project.id, dataset, matrix)


@router.get(MATRIX + "/analysis", summary="Coverage, overlap, conflict, accuracy per function.")
def matrix_analysis(
    dataset: str, matrix: str, project: ProjectDep, _: Viewer, labeling: LabelingDep
) -> MatrixAnalysis:
    return labeling.analysis(project.id, dataset, matrix)


@router.post(MATRIX + "/fit", status_code=201, summary="Fit the label model on a matrix.")
def fit_label_model(
    dataset: str,
    matrix: str,
    body: FitRequest,
    project: ProjectDep,
    principal: Editor,
    labeling: LabelingDep,
) -> FitOutcome:
    return labeling.fit(
        project.id, dataset, matrix, class_balance=body.class_balance, seed=body.seed,
        actor=principal.actor,
    )  # fmt: skip


@router.get(MATRIX + "/fit", summary="The latest label-model fit of a matrix.")
def get_fit(
    dataset: str, matrix: str, project: ProjectDep, _: Viewer, labeling: LabelingDep
) -> LatestFit:
    return labeling.latest_fit(project.id, dataset, matrix)


@router.post(
    MATRIX + "/labels", status_code=201, summary="Write the fitted labels into a new version."
)
def write_labels(
    dataset: str,
    matrix: str,
    body: WriteLabelsRequest,
    project: ProjectDep,
    principal: Editor,
    labeling: LabelingDep,
) -> LabelsWritten:
    return labeling.write_labels(
        project.id, dataset, matrix, field=body.field, min_confidence=body.min_confidence,
        actor=principal.actor,
    )  # fmt: skip


@router.post(DATASET + "/simulations", status_code=201, summary="Active-learning curves.")
def run_simulation(
    dataset: str,
    body: SimulateRequest,
    project: ProjectDep,
    principal: Editor,
    labeling: LabelingDep,
) -> StoredSimulation:
    request = SimulationRequest(**body.model_dump(exclude={"version"}))
    return labeling.simulate(
        project.id, dataset, request, version=body.version, actor=principal.actor
    )


@router.get(DATASET + "/simulations", summary="Stored learning curves, newest first.")
def list_simulations(
    dataset: str, project: ProjectDep, _: Viewer, labeling: LabelingDep
) -> list[StoredSimulation]:
    return labeling.simulations(project.id, dataset)


@router.post(DATASET + "/coverage", summary="How well a dataset covers traces or another set.")
def coverage(
    dataset: str, body: CoverageRequest, project: ProjectDep, _: Viewer, runtime: RuntimeDep
) -> CoverageReport:
    service = Representativeness(runtime.db, runtime.tenancy.audit)
    return service.report(project.id, dataset, body)
