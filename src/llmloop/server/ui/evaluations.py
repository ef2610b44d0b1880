"""UI pages of evaluations: runs list, run detail, run-versus-run comparison."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from llmloop.errors import LlmloopError
from llmloop.evaluation import compare_stored
from llmloop.evaluation.aggregates import distributions, slice_means
from llmloop.server.deps import RuntimeDep
from llmloop.server.ui.routes import TEMPLATES, _login_redirect, _page, _principal
from llmloop.store.evaluations import EvaluationRepository
from llmloop.tenancy import Principal

router = APIRouter(include_in_schema=False)

DETAIL_ROWS = 200


def _problem(request: Request, principal: Principal, exc: LlmloopError) -> Response:
    response = _page(
        request, "eval_problem.html", principal, active="evaluations", message=exc.message
    )
    response.status_code = exc.status
    return response


@router.get("/evaluations", response_class=HTMLResponse)
def runs_page(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    runs = EvaluationRepository(runtime.db).list(principal.project.id, limit=200)
    return _page(request, "eval_runs.html", principal, active="evaluations", runs=runs)


@router.get("/evaluations/{run_id}", response_class=HTMLResponse)
def run_page(run_id: str, request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    repo = EvaluationRepository(runtime.db)
    try:
        run = repo.get(principal.project.id, run_id)
    except LlmloopError as exc:
        return _problem(request, principal, exc)
    results = repo.results(principal.project.id, run_id)
    others = [r for r in repo.list(principal.project.id, limit=50) if r.id != run.id]
    return _page(
        request,
        "eval_run.html",
        principal,
        active="evaluations",
        run=run,
        results=results[:DETAIL_ROWS],
        slices=slice_means(results),
        distributions=distributions(results),
        others=others,
    )


@router.get("/evaluations/{run_id}/progress", response_class=HTMLResponse)
def progress_fragment(run_id: str, request: Request, runtime: RuntimeDep) -> Response:
    """The progress bar of a run; once the run stops, htmx reloads the whole page."""
    principal = _principal(request, runtime)
    if principal is None:
        return Response(status_code=401)
    try:
        run = EvaluationRepository(runtime.db).get(principal.project.id, run_id)
    except LlmloopError as exc:
        return Response(exc.message, status_code=exc.status)
    response = TEMPLATES.TemplateResponse(request, "_eval_progress.html", {"run": run})
    if run.status != "running":
        response.headers["HX-Refresh"] = "true"
    return response


@router.get("/evaluations/{run_id}/compare", response_class=HTMLResponse)
def compare_page(run_id: str, baseline: str, request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    repo = EvaluationRepository(runtime.db)
    try:
        comparison = compare_stored(repo, principal.project.id, baseline, run_id)
    except LlmloopError as exc:
        return _problem(request, principal, exc)
    return _page(
        request, "eval_compare.html", principal, active="evaluations", comparison=comparison
    )
