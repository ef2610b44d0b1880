"""Labeling pages: per dataset, the labeling-function analysis, the label-model summary,
the learning curves of stored simulations, and the coverage report with slice charts."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError as PydanticValidationError

from llmloop.data.representativeness import CoverageRequest, Representativeness
from llmloop.errors import LlmloopError, ValidationError
from llmloop.labeling.service import Labeling
from llmloop.labeling.specs import LFSpec
from llmloop.records import Role
from llmloop.runtime import Runtime
from llmloop.server.deps import RuntimeDep
from llmloop.server.ui.routes import _login_redirect, _page, _principal

router = APIRouter(include_in_schema=False)


def _labeling(runtime: Runtime) -> Labeling:
    return Labeling(runtime.db, runtime.tenancy.audit, data_dir=runtime.settings.data_dir)


@router.get("/labeling", response_class=HTMLResponse)
def labeling_page(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    labeling = _labeling(runtime)
    project_id = principal.project.id
    rows = [
        {
            "dataset": summary.dataset.name,
            "matrices": labeling.repo.list(project_id, summary.dataset.id),
            "simulations": len(labeling.repo.simulations(project_id, summary.dataset.id)),
        }
        for summary in labeling.datasets.list(project_id)
    ]
    return _page(request, "labeling.html", principal, active="labeling", rows=rows)


def _curve_charts(labeling: Labeling, project_id: str, dataset: str) -> list[dict[str, Any]]:
    charts = []
    for simulation in labeling.simulations(project_id, dataset)[:5]:
        series = [
            {"strategy": name, "points": [
                {"x": x, "y": y} for x, y in zip(c["labels"], c["accuracy"], strict=True)
            ]}
            for name, c in simulation.curves.items()
        ]  # fmt: skip
        charts.append({"id": simulation.id, "settings": simulation.settings, "series": series})
    return charts


@router.get("/labeling/{dataset}", response_class=HTMLResponse)
def labeling_dataset_page(
    request: Request, runtime: RuntimeDep, dataset: str, matrix: str | None = None
) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    labeling = _labeling(runtime)
    project_id = principal.project.id
    context: dict[str, Any] = {"dataset": dataset, "analysis": None, "fit": None}
    try:
        matrices = labeling.matrices(project_id, dataset)
        selected = next((m for m in matrices if matrix in (m.id, m.name)), None)
        selected = selected or (matrices[0] if matrices else None)
        if selected is not None and selected.status == "done":
            context["analysis"] = labeling.analysis(project_id, dataset, selected.id)
            context["fit"] = labeling.repo.latest_fit(selected.id)
        charts = _curve_charts(labeling, project_id, dataset)
    except LlmloopError as exc:
        return _page(
            request, "labeling_dataset.html", principal, active="labeling", error=exc.message,
            dataset=dataset, matrices=[], selected=None, charts=[], analysis=None, fit=None,
        )  # fmt: skip
    return _page(
        request, "labeling_dataset.html", principal, active="labeling", matrices=matrices,
        selected=selected, charts=charts, error=None, **context,
    )  # fmt: skip


@router.get("/labeling/{dataset}/coverage", response_class=HTMLResponse)
def coverage_page(
    request: Request,
    runtime: RuntimeDep,
    dataset: str,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    slices: str = "language,domain",
) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    keys = [s.strip() for s in slices.split(",") if s.strip()]
    report = error = None
    try:
        query = CoverageRequest(target_dataset=target or None, since=since, until=until,
                                slices=keys)  # fmt: skip
        report = Representativeness(runtime.db, runtime.tenancy.audit).report(
            principal.project.id, dataset, query
        )
    except LlmloopError as exc:
        error = exc.message
    except ValueError as exc:
        error = str(exc)
    return _page(
        request, "labeling_coverage.html", principal, active="labeling", dataset=dataset,
        report=report, error=error, target=target or "", since=since, until=until,
        slices=",".join(keys),
        slice_charts=[s.model_dump() for s in report.slices] if report else [],
    )  # fmt: skip


@router.post("/labeling/{dataset}/apply", response_class=HTMLResponse)
def apply_fragment(
    request: Request,
    runtime: RuntimeDep,
    dataset: str,
    functions: Annotated[str, Form()] = "",
    classes: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "default",
    gold_field: Annotated[str, Form()] = "",
) -> Response:
    """The "New label matrix" form: keyword/regex functions as JSON, applied now."""
    principal = _principal(request, runtime)
    if principal is None:
        return Response(status_code=401)
    try:
        principal.require(Role.editor)
        try:
            raw = json.loads(functions or "[]")
        except json.JSONDecodeError as exc:
            raise ValidationError(f"the functions are not valid JSON: {exc}") from None
        if not isinstance(raw, list):
            raise ValidationError("give the functions as a JSON list of specs")
        try:
            specs = [LFSpec.model_validate(item) for item in raw]
        except PydanticValidationError as exc:
            raise ValidationError(f"invalid function spec: {exc.errors()[0]['msg']}") from None
        labeling = _labeling(runtime)
        matrix = labeling.apply(
            principal.project.id, dataset, specs=specs,
            classes=[c.strip() for c in classes.split(",") if c.strip()],
            name=name.strip() or "default", gold_field=gold_field.strip() or None,
            replace=True, actor=principal.actor,
        )  # fmt: skip
    except LlmloopError as exc:
        return HTMLResponse(
            f'<p class="error" role="alert">{escape(exc.message)}</p>', status_code=400
        )
    location = f"/labeling/{quote(dataset)}?matrix={quote(matrix.name)}"
    return Response(status_code=200, headers={"HX-Redirect": location})
