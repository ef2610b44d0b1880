"""Prompt pages: the list, one prompt with versions and diff, and a playground."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from llmloop.errors import LlmloopError, NotFoundError, ValidationError
from llmloop.prompts.service import Prompts, diff_versions, template_text
from llmloop.prompts.templates import compile_version
from llmloop.records import Role
from llmloop.runtime import Runtime
from llmloop.server.deps import RuntimeDep
from llmloop.server.ui.routes import TEMPLATES, _login_redirect, _page, _principal
from llmloop.store.prompts import PromptVersion, Variable

router = APIRouter(include_in_schema=False)
TEMPLATES.env.globals.update(template_text=template_text)


def _prompts(runtime: Runtime) -> Prompts:
    return Prompts(runtime.db, runtime.tenancy.audit)


@router.get("/prompts", response_class=HTMLResponse)
def prompts_page(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    summaries = _prompts(runtime).list(principal.project.id)
    return _page(request, "prompts.html", principal, active="prompts", summaries=summaries)


@router.get("/prompts/{name}", response_class=HTMLResponse)
def prompt_page(
    request: Request,
    runtime: RuntimeDep,
    name: str,
    version: str | None = None,
    compare: str | None = None,
) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    prompts = _prompts(runtime)
    project_id = principal.project.id
    try:
        summary = prompts.summary(project_id, name)
        selected = prompts.version(project_id, name, version)
        versions = prompts.versions(project_id, name)
        base = _base_version(prompts, project_id, name, selected, versions, compare)
    except NotFoundError as exc:
        return TEMPLATES.TemplateResponse(
            request,
            "prompts.html",
            {
                "principal": principal,
                "project": principal.project,
                "active": "prompts",
                "summaries": prompts.list(project_id),
                "error": exc.message,
            },
            status_code=404,
        )
    labels_of: dict[str, list[str]] = {}
    for label in summary.labels:
        labels_of.setdefault(label.version_id, []).append(label.name)
    return _page(
        request,
        "prompt_detail.html",
        principal,
        active="prompts",
        summary=summary,
        versions=versions,
        selected=selected,
        diff=None if base is None else diff_versions(base, selected),
        labels_of=labels_of,
        models=runtime.providers.names(),
        default_model=runtime.settings.default_chat_model,
        can_run=principal.role.allows(Role.editor),
    )


def _base_version(
    prompts: Prompts,
    project_id: str,
    name: str,
    selected: PromptVersion,
    versions: list[PromptVersion],
    compare: str | None,
) -> PromptVersion | None:
    if compare:
        return prompts.version(project_id, name, compare)
    return next((v for v in versions if v.number == selected.number - 1), None)


def _form_value(variable: Variable, raw: str) -> Any:
    """A form field as the variable's type: strings as typed, the rest as JSON."""
    if raw == "":
        return None
    if variable.type == "string":
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ValidationError(
            f"variable {variable.name!r} ({variable.type}) must be JSON, e.g. "
            f"{ {'integer': '3', 'number': '0.5', 'boolean': 'true', 'list': '[1, 2]'}.get(variable.type, '{}') }"  # noqa: E501
        ) from None


@router.post("/prompts/{name}/playground", response_class=HTMLResponse)
async def playground(request: Request, runtime: RuntimeDep, name: str) -> Response:
    """Render a version with the form's variables and run it against a model."""
    principal = _principal(request, runtime)
    if principal is None:
        return Response(status_code=401)
    form = await request.form()
    context: dict[str, Any] = {"error": None, "messages": None, "reply": None}
    status = 200
    try:
        principal.require(Role.editor)
        version = _prompts(runtime).version(
            principal.project.id, name, str(form.get("version") or "latest")
        )
        values = {
            v.name: _form_value(v, str(form.get(f"var_{v.name}", ""))) for v in version.variables
        }
        context["messages"] = compile_version(version)(
            {k: v for k, v in values.items() if v is not None}
        )
        model = str(form.get("model") or runtime.settings.default_chat_model).strip()
        params = {
            k: v
            for k, v in version.params.items()
            if k in ("temperature", "top_p", "max_tokens", "stop", "seed")
        }
        response = await runtime.providers.chat(model, context["messages"], **params)
        context.update(reply=response, model=model)
    except LlmloopError as exc:
        context["error"] = exc.message
        status = exc.status if 400 <= exc.status < 500 else 502
    return TEMPLATES.TemplateResponse(
        request, "_playground_result.html", context, status_code=status
    )
