"""Deployment pages: the list, and one deployment with its versions, traffic split editor,
A/B results with charts and intervals, promotion and a rollback button."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from llmloop.deployments.analysis import ABReport, analyse
from llmloop.deployments.service import DEFAULT_ENVIRONMENT, ArmWeight, Deployments
from llmloop.errors import LlmloopError, ValidationError
from llmloop.records import Role
from llmloop.server.api.deployments import deployments_of
from llmloop.server.deps import RuntimeDep
from llmloop.server.ui.routes import TEMPLATES, _login_redirect, _page, _principal
from llmloop.tenancy import Principal

router = APIRouter(include_in_schema=False)


@router.get("/deployments", response_class=HTMLResponse)
def deployments_page(
    request: Request, runtime: RuntimeDep, environment: str | None = None
) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    summaries = deployments_of(runtime).list(principal.project.id, environment or None)
    return _page(
        request,
        "deployments.html",
        principal,
        active="deployments",
        summaries=summaries,
        environment=environment,
    )


@router.get("/deployments/{name}", response_class=HTMLResponse)
def deployment_page(
    request: Request, runtime: RuntimeDep, name: str, environment: str = DEFAULT_ENVIRONMENT
) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    notice = request.query_params.get("done")
    return _detail(request, deployments_of(runtime), principal, name, environment, notice=notice)


def _detail(
    request: Request,
    deployments: Deployments,
    principal: Principal,
    name: str,
    environment: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    project_id = principal.project.id
    try:
        summary = deployments.summary(project_id, name, environment)
    except LlmloopError as exc:
        return TEMPLATES.TemplateResponse(
            request,
            "deployments.html",
            {
                "principal": principal,
                "project": principal.project,
                "active": "deployments",
                "summaries": deployments.list(project_id),
                "error": exc.message,
                "environment": None,
            },
            status_code=exc.status,
        )
    versions = deployments.versions(project_id, name, environment)
    aliases_of: dict[str, list[str]] = {}
    for alias in summary.aliases:
        aliases_of.setdefault(alias.version_id, []).append(alias.name)
    report = analyse(deployments, summary.deployment)
    prompt_labels = {
        v.id: _prompt_label(deployments, project_id, v.prompt_version_id) for v in versions
    }
    events = deployments.audit.list(
        project_id, object_type="deployment", object_id=summary.deployment.id, limit=50
    )
    response = _page(
        request,
        "deployment_detail.html",
        principal,
        active="deployments",
        summary=summary,
        versions=versions,
        aliases_of=aliases_of,
        report=report,
        charts=_charts(report),
        prompt_labels=prompt_labels,
        events=events,
        error=error,
        notice=notice,
        can_edit=principal.role.allows(Role.editor),
        environment=environment,
    )
    response.status_code = status
    return response


def _prompt_label(deployments: Deployments, project_id: str, version_id: str | None) -> str:
    if version_id is None:
        return "-"
    try:
        found = deployments.prompts.version_by_id(project_id, version_id)
    except LlmloopError:
        return version_id
    return f"{found.prompt_name} {found.label}"


def _charts(report: ABReport) -> dict[str, Any]:
    """Chart data as lists (JSON keeps their order)."""
    arms = [a.arm for a in report.arms]
    errors = [c for c in report.comparisons if c.metric == "error_rate"]
    return {
        "arms": arms,
        "error_rate": [a.error_rate for a in report.arms],
        "p50": [a.latency_p50_ms for a in report.arms],
        "p95": [a.latency_p95_ms for a in report.arms],
        "diff_labels": [c.arm for c in errors],
        "diff": [c.diff for c in errors],
        "diff_ci": [[c.ci_low, c.ci_high] for c in errors],
    }


def _redirect(name: str, environment: str, done: str) -> RedirectResponse:
    query = urlencode({"environment": environment, "done": done})
    return RedirectResponse(f"/deployments/{quote(name)}?{query}", status_code=303)


async def _form_action(
    request: Request, runtime: RuntimeDep, name: str, environment: str
) -> tuple[Principal | None, FormData, Deployments]:
    principal = _principal(request, runtime)
    return principal, await request.form(), deployments_of(runtime)


def _weights(form: FormData) -> list[ArmWeight]:
    split: list[ArmWeight] = []
    for key, raw in form.multi_items():
        if not key.startswith("weight_") or not str(raw).strip():
            continue
        try:
            weight = float(str(raw))
        except ValueError:
            raise ValidationError(f"weight of {key[7:]} must be a number, got {raw!r}") from None
        if weight < 0:
            raise ValidationError(f"weight of {key[7:]} must not be negative, got {weight:g}")
        if weight > 0:
            split.append(ArmWeight(version=key[7:], weight=weight))
    return split


@router.post("/deployments/{name}/split", response_class=HTMLResponse)
async def split_form(
    request: Request, runtime: RuntimeDep, name: str, environment: str = DEFAULT_ENVIRONMENT
) -> Response:
    principal, form, deployments = await _form_action(request, runtime, name, environment)
    if principal is None:
        return _login_redirect(request)
    try:
        principal.require(Role.editor)
        deployments.set_routing(
            principal.project.id,
            name,
            _weights(form),
            actor=principal.actor,
            reason=str(form.get("reason") or "") or None,
            sticky_by=str(form.get("sticky_by") or "") or None,
            shadow=str(form.get("shadow") or "") or None,
            environment=environment,
        )
    except LlmloopError as exc:
        return _detail(
            request,
            deployments,
            principal,
            name,
            environment,
            error=exc.message,
            status=exc.status if exc.status < 500 else 400,
        )
    return _redirect(name, environment, "Traffic split saved.")


@router.post("/deployments/{name}/rollback", response_class=HTMLResponse)
async def rollback_form(
    request: Request, runtime: RuntimeDep, name: str, environment: str = DEFAULT_ENVIRONMENT
) -> Response:
    principal, form, deployments = await _form_action(request, runtime, name, environment)
    if principal is None:
        return _login_redirect(request)
    try:
        principal.require(Role.editor)
        moved = deployments.rollback(
            principal.project.id,
            name,
            actor=principal.actor,
            reason=str(form.get("reason") or ""),
            environment=environment,
        )
    except LlmloopError as exc:
        return _detail(
            request,
            deployments,
            principal,
            name,
            environment,
            error=exc.message,
            status=exc.status if exc.status < 500 else 400,
        )
    done = (
        f"Rolled back: stopped {', '.join(moved.removed_arms)}."
        if moved.removed_arms
        else f"Rolled back: stable is {moved.stable.label}."
    )
    return _redirect(name, environment, done)


@router.post("/deployments/{name}/promote", response_class=HTMLResponse)
async def promote_form(
    request: Request, runtime: RuntimeDep, name: str, environment: str = DEFAULT_ENVIRONMENT
) -> Response:
    principal, form, deployments = await _form_action(request, runtime, name, environment)
    if principal is None:
        return _login_redirect(request)
    try:
        principal.require(Role.editor)
        moved = deployments.promote(
            principal.project.id,
            name,
            str(form.get("version") or ""),
            actor=principal.actor,
            reason=str(form.get("reason") or ""),
            environment=environment,
        )
    except LlmloopError as exc:
        return _detail(
            request,
            deployments,
            principal,
            name,
            environment,
            error=exc.message,
            status=exc.status if exc.status < 500 else 400,
        )
    return _redirect(name, environment, f"Promoted: stable is {moved.stable.label}.")
