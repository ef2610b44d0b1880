"""UI pages of evaluation suites: the suite runs list and one report with its charts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from llmloop.errors import LlmloopError
from llmloop.evaluation.suites.report import SuiteReport, stored_report
from llmloop.server.deps import RuntimeDep
from llmloop.server.ui.routes import _login_redirect, _page, _principal
from llmloop.store.evaluations import EvaluationRepository

router = APIRouter(include_in_schema=False)

LISTED_RUNS = 500


@router.get("/suites", response_class=HTMLResponse)
def suites_page(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    runs = EvaluationRepository(runtime.db).list(principal.project.id, limit=LISTED_RUNS)
    reports = [
        (run, SuiteReport.model_validate(run.details["suite"]))
        for run in runs
        if isinstance(run.details.get("suite"), dict)
    ]
    return _page(request, "suites.html", principal, active="suites", reports=reports)


@router.get("/suites/{run_id}", response_class=HTMLResponse)
def suite_page(run_id: str, request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    try:
        report = stored_report(EvaluationRepository(runtime.db), principal.project.id, run_id)
    except LlmloopError as exc:
        response = _page(
            request, "eval_problem.html", principal, active="suites", message=exc.message
        )
        response.status_code = exc.status
        return response
    charts = [chart.model_dump(mode="json") for chart in report.charts]
    return _page(
        request, "suite_report.html", principal, active="suites", report=report, charts=charts
    )
