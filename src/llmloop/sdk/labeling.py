"""``client.labeling``: label matrices, analysis, label-model fits, simulations, coverage.

Labeling functions are sent as data (:class:`~llmloop.labeling.specs.LFSpec` or dicts);
a string ``"pkg.module:attr"`` names Python functions importable where they run (the
server, or this process for a local client). :meth:`LabelingApi.apply` waits for the
matrix by default, reporting progress to ``on_progress``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from llmloop.data.representativeness import CoverageReport, CoverageRequest
from llmloop.errors import ValidationError
from llmloop.labeling.service import (
    FitOutcome,
    LabelsWritten,
    LatestFit,
    MatrixAnalysis,
    SimulationRequest,
)
from llmloop.labeling.specs import LFSpec
from llmloop.sdk.base import AsyncApi, Call, SyncApi, as_type
from llmloop.store.label_matrices import StoredMatrix, StoredSimulation

FunctionLike = LFSpec | dict[str, Any] | str
Progress = Callable[[StoredMatrix], None]
POLL_SECONDS = 0.2


def _base(project: str, dataset: str) -> str:
    return f"/api/v1/projects/{project}/datasets/{dataset}"


def spec_of(function: FunctionLike) -> dict[str, Any]:
    """A labeling function as the JSON the API takes."""
    if isinstance(function, LFSpec):
        return function.model_dump(exclude_defaults=True)
    if isinstance(function, str):
        return {"kind": "python", "ref": function}
    if isinstance(function, dict):
        return LFSpec.model_validate(function).model_dump(exclude_defaults=True)
    raise ValidationError(
        f"{function!r} is not a labeling function spec: give an LFSpec, a dict or "
        "'pkg.module:attribute'"
    )


# ------------------------------------------------------------------------- calls


def apply_call(
    project: str, dataset: str, functions: Sequence[FunctionLike], classes: Sequence[str],
    **options: Any,
) -> Call[StoredMatrix]:  # fmt: skip
    body = {"functions": [spec_of(f) for f in functions], "classes": list(classes)}
    body |= {k: v for k, v in options.items() if v is not None}
    path = f"{_base(project, dataset)}/label-matrices"
    return Call("POST", path, as_type(StoredMatrix), json=body)


def matrix_call(project: str, dataset: str, matrix: str) -> Call[StoredMatrix]:
    path = f"{_base(project, dataset)}/label-matrices/{matrix}"
    return Call("GET", path, as_type(StoredMatrix))


def matrices_call(project: str, dataset: str) -> Call[list[StoredMatrix]]:
    path = f"{_base(project, dataset)}/label-matrices"
    return Call("GET", path, as_type(list[StoredMatrix]))


def analysis_call(project: str, dataset: str, matrix: str) -> Call[MatrixAnalysis]:
    path = f"{_base(project, dataset)}/label-matrices/{matrix}/analysis"
    return Call("GET", path, as_type(MatrixAnalysis))


def fit_call(project: str, dataset: str, matrix: str, class_balance: str) -> Call[FitOutcome]:
    path = f"{_base(project, dataset)}/label-matrices/{matrix}/fit"
    return Call("POST", path, as_type(FitOutcome), json={"class_balance": class_balance})


def latest_fit_call(project: str, dataset: str, matrix: str) -> Call[LatestFit]:
    path = f"{_base(project, dataset)}/label-matrices/{matrix}/fit"
    return Call("GET", path, as_type(LatestFit))


def labels_call(
    project: str, dataset: str, matrix: str, field: str, min_confidence: float
) -> Call[LabelsWritten]:
    path = f"{_base(project, dataset)}/label-matrices/{matrix}/labels"
    body = {"field": field, "min_confidence": min_confidence}
    return Call("POST", path, as_type(LabelsWritten), json=body)


def simulate_call(
    project: str, dataset: str, request: SimulationRequest, version: str | None
) -> Call[StoredSimulation]:
    body = request.model_dump() | ({"version": version} if version else {})
    path = f"{_base(project, dataset)}/simulations"
    return Call("POST", path, as_type(StoredSimulation), json=body)


def simulations_call(project: str, dataset: str) -> Call[list[StoredSimulation]]:
    path = f"{_base(project, dataset)}/simulations"
    return Call("GET", path, as_type(list[StoredSimulation]))


def coverage_call(project: str, dataset: str, request: CoverageRequest) -> Call[CoverageReport]:
    path = f"{_base(project, dataset)}/coverage"
    body = request.model_dump(mode="json", exclude_defaults=True)
    return Call("POST", path, as_type(CoverageReport), json=body)


def _finished(matrix: StoredMatrix) -> bool:
    return matrix.status in ("done", "failed")


# ------------------------------------------------------------------------- APIs


class LabelingApi(SyncApi):
    def apply(
        self,
        dataset: str,
        functions: Sequence[FunctionLike],
        classes: Sequence[str],
        *,
        version: str | None = None,
        name: str = "default",
        gold_field: str | None = None,
        replace: bool = False,
        wait: bool = True,
        on_progress: Progress | None = None,
    ) -> StoredMatrix:
        """Apply labeling functions to a dataset version and store the label matrix."""
        call = apply_call(
            self._project, dataset, functions, classes, version=version, name=name,
            gold_field=gold_field, replace=replace,
        )  # fmt: skip
        matrix = self._run(call)
        while wait:
            matrix = self.matrix(dataset, matrix.id)
            if on_progress is not None:
                on_progress(matrix)
            if _finished(matrix):
                break
            time.sleep(POLL_SECONDS)
        return matrix

    def matrix(self, dataset: str, name: str = "default") -> StoredMatrix:
        return self._run(matrix_call(self._project, dataset, name))

    def matrices(self, dataset: str) -> list[StoredMatrix]:
        return self._run(matrices_call(self._project, dataset))

    def analysis(self, dataset: str, matrix: str = "default") -> MatrixAnalysis:
        return self._run(analysis_call(self._project, dataset, matrix))

    def fit(
        self, dataset: str, matrix: str = "default", *, class_balance: str = "votes"
    ) -> FitOutcome:
        return self._run(fit_call(self._project, dataset, matrix, class_balance))

    def latest_fit(self, dataset: str, matrix: str = "default") -> LatestFit:
        return self._run(latest_fit_call(self._project, dataset, matrix))

    def write_labels(
        self, dataset: str, matrix: str = "default", *, field: str, min_confidence: float = 0.0
    ) -> LabelsWritten:
        """Commit the label model's labels (and confidences) as a new dataset version."""
        return self._run(labels_call(self._project, dataset, matrix, field, min_confidence))

    def simulate(
        self, dataset: str, *, label_field: str, version: str | None = None, **settings: Any
    ) -> StoredSimulation:
        request = SimulationRequest(label_field=label_field, **settings)
        return self._run(simulate_call(self._project, dataset, request, version))

    def simulations(self, dataset: str) -> list[StoredSimulation]:
        return self._run(simulations_call(self._project, dataset))

    def coverage(self, dataset: str, **settings: Any) -> CoverageReport:
        """How well ``dataset`` covers traces (``since``/``until``) or ``target_dataset``."""
        request = CoverageRequest(**settings)
        return self._run(coverage_call(self._project, dataset, request))


class AsyncLabelingApi(AsyncApi):
    async def apply(
        self,
        dataset: str,
        functions: Sequence[FunctionLike],
        classes: Sequence[str],
        *,
        version: str | None = None,
        name: str = "default",
        gold_field: str | None = None,
        replace: bool = False,
        wait: bool = True,
    ) -> StoredMatrix:
        call = apply_call(
            self._project, dataset, functions, classes, version=version, name=name,
            gold_field=gold_field, replace=replace,
        )  # fmt: skip
        matrix = await self._run(call)
        while wait:
            matrix = await self._run(matrix_call(self._project, dataset, matrix.id))
            if _finished(matrix):
                break
            await asyncio.sleep(POLL_SECONDS)
        return matrix

    async def analysis(self, dataset: str, matrix: str = "default") -> MatrixAnalysis:
        return await self._run(analysis_call(self._project, dataset, matrix))

    async def fit(
        self, dataset: str, matrix: str = "default", *, class_balance: str = "votes"
    ) -> FitOutcome:
        return await self._run(fit_call(self._project, dataset, matrix, class_balance))

    async def write_labels(
        self, dataset: str, matrix: str = "default", *, field: str, min_confidence: float = 0.0
    ) -> LabelsWritten:
        return await self._run(labels_call(self._project, dataset, matrix, field, min_confidence))

    async def coverage(self, dataset: str, **settings: Any) -> CoverageReport:
        return await self._run(coverage_call(self._project, dataset, CoverageRequest(**settings)))


__all__ = ["AsyncLabelingApi", "FunctionLike", "LabelingApi", "spec_of"]
