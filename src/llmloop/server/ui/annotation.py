"""Annotation pages: queues, a queue's progress and agreement, the annotator page
(keyboard-driven, next item over htmx), adjudication and promotion to golden."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from llmloop.annotation import Queues, annotator_name, promote
from llmloop.annotation.queues import check_annotator
from llmloop.errors import LlmloopError, NotFoundError
from llmloop.records import Role
from llmloop.runtime import Runtime
from llmloop.server.deps import RuntimeDep
from llmloop.server.ui.routes import TEMPLATES, _login_redirect, _page, _principal
from llmloop.store.annotation_types import Item, Queue
from llmloop.tenancy import Principal

router = APIRouter(include_in_schema=False)
ANNOTATOR_COOKIE = "llmloop_annotator"
ITEMS_SHOWN = 200


def _queues(runtime: Runtime) -> Queues:
    return Queues(runtime.db, runtime.tenancy.audit)


def _annotator(request: Request, principal: Principal) -> str:
    """The UI sign-in name when one was given on the annotator page, else the key's name."""
    return request.cookies.get(ANNOTATOR_COOKIE) or annotator_name(principal.actor)


def _fragment(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def _not_found(
    request: Request, principal: Principal, runtime: Runtime, exc: Exception
) -> Response:
    message = exc.message if isinstance(exc, LlmloopError) else str(exc)
    context = {"principal": principal, "project": principal.project, "active": "queues"}
    summaries = _queues(runtime).list(principal.project.id)
    return TEMPLATES.TemplateResponse(
        request, "queues.html", {**context, "summaries": summaries, "error": message},
        status_code=404,
    )  # fmt: skip


@router.get("/queues", response_class=HTMLResponse)
def queues_page(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    summaries = _queues(runtime).list(principal.project.id)
    return _page(request, "queues.html", principal, active="queues", summaries=summaries)


@router.get("/queues/{name}", response_class=HTMLResponse)
def queue_page(request: Request, runtime: RuntimeDep, name: str) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    queues = _queues(runtime)
    try:
        summary = queues.summary(principal.project.id, name)
    except NotFoundError as exc:
        return _not_found(request, principal, runtime, exc)
    report = queues.agreement(principal.project.id, name)
    page = queues.items(principal.project.id, name, limit=ITEMS_SHOWN)
    return _page(
        request,
        "queue_detail.html",
        principal,
        active="queues",
        summary=summary,
        report=report,
        page=page,
        can_edit=principal.role.allows(Role.editor),
    )


# --------------------------------------------------------------------------- annotating


def _item_context(
    queues: Queues, queue: Queue, item: Item | None, annotator: str, error: str | None = None
) -> dict[str, Any]:
    return {
        "queue": queue,
        "schema": queue.label_schema,
        "item": item,
        "annotator": annotator,
        "progress": queues.repo.progress(queue),
        "error": error,
    }


@router.get("/queues/{name}/annotate", response_class=HTMLResponse)
def annotate_page(request: Request, runtime: RuntimeDep, name: str) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    queues = _queues(runtime)
    annotator = _annotator(request, principal)
    try:
        queue = queues.get(principal.project.id, name)
    except NotFoundError as exc:
        return _not_found(request, principal, runtime, exc)
    can_edit = principal.role.allows(Role.editor)
    item = queues.next_item(principal.project.id, name, annotator) if can_edit else None
    context = _item_context(queues, queue, item, annotator)
    return _page(
        request, "queue_annotate.html", principal, active="queues", can_edit=can_edit, **context
    )


@router.post("/queues/{name}/annotator")
def sign_in_annotator(
    request: Request, runtime: RuntimeDep, name: str, annotator: Annotated[str, Form()] = ""
) -> Response:
    """Annotate under a name of one's own (several people sharing one key)."""
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    response = RedirectResponse(f"/queues/{name}/annotate", status_code=303)
    if annotator.strip():
        try:
            response.set_cookie(
                ANNOTATOR_COOKIE, check_annotator(annotator), httponly=True, samesite="strict"
            )
        except LlmloopError:
            return Response("annotator name must be 1-200 printable characters", 422)
    else:
        response.delete_cookie(ANNOTATOR_COOKIE)
    return response


@router.post("/queues/{name}/annotate/{item_id}", response_class=HTMLResponse)
async def answer_fragment(
    request: Request, runtime: RuntimeDep, name: str, item_id: str
) -> Response:
    """Record the answer (or the skip) and answer with the next item's fragment."""
    principal = _principal(request, runtime)
    if principal is None:
        return Response(status_code=401)
    queues = _queues(runtime)
    annotator = _annotator(request, principal)
    form = await request.form()
    try:
        principal.require(Role.editor)
        queue = queues.get(principal.project.id, name)
        value = _form_value(queue, form)
        if form.get("action") == "skip":
            queues.skip(principal.project.id, name, item_id, annotator)
        else:
            queues.submit(principal.project.id, name, item_id, annotator, value)
    except LlmloopError as exc:
        return _retry(request, queues, principal, name, item_id, annotator, exc)
    item = queues.next_item(principal.project.id, name, annotator)
    context = _item_context(queues, queue, item, annotator)
    return _fragment(request, "_queue_item.html", **context)


def _retry(
    request: Request,
    queues: Queues,
    principal: Principal,
    name: str,
    item_id: str,
    annotator: str,
    exc: LlmloopError,
) -> Response:
    """The same item again with the error, so the annotator can correct the answer."""
    try:
        queue = queues.get(principal.project.id, name)
        item: Item | None = queues.repo.item(queue.id, item_id)
    except NotFoundError:
        return Response(exc.message, status_code=exc.status)
    context = _item_context(queues, queue, item, annotator, error=exc.message)
    return _fragment(request, "_queue_item.html", status_code=exc.status, **context)


def _form_value(queue: Queue, form: Any) -> Any:
    schema = queue.label_schema
    if schema.kind == "classes" and schema.multi:
        return list(form.getlist("value"))
    return form.get("value")


# --------------------------------------------------------------------------- adjudication


@router.get("/queues/{name}/adjudicate", response_class=HTMLResponse)
def adjudicate_page(request: Request, runtime: RuntimeDep, name: str) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    queues = _queues(runtime)
    try:
        summary = queues.summary(principal.project.id, name)
    except NotFoundError as exc:
        return _not_found(request, principal, runtime, exc)
    page = queues.items(principal.project.id, name, status="disputed", limit=ITEMS_SHOWN)
    return _page(
        request,
        "queue_adjudicate.html",
        principal,
        active="queues",
        summary=summary,
        schema=summary.queue.label_schema,
        page=page,
        can_edit=principal.role.allows(Role.editor),
    )


@router.post("/queues/{name}/adjudicate/{item_id}", response_class=HTMLResponse)
async def adjudicate_fragment(
    request: Request, runtime: RuntimeDep, name: str, item_id: str
) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return Response(status_code=401)
    queues = _queues(runtime)
    form = await request.form()
    try:
        principal.require(Role.editor)
        queue = queues.get(principal.project.id, name)
        view = queues.adjudicate(
            principal.project.id,
            name,
            item_id,
            _form_value(queue, form),
            adjudicator=_annotator(request, principal),
            actor=principal.actor,
            reason=str(form.get("reason") or "") or None,
        )
    except LlmloopError as exc:
        return _fragment(request, "_queue_error.html", status_code=exc.status, error=exc.message)
    return _fragment(
        request, "_queue_adjudicate_row.html", view=view, schema=queue.label_schema, name=name
    )


@router.post("/queues/{name}/promote", response_class=HTMLResponse)
def promote_fragment(
    request: Request,
    runtime: RuntimeDep,
    name: str,
    dataset: Annotated[str, Form()] = "",
    message: Annotated[str, Form()] = "",
) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return Response(status_code=401)
    try:
        principal.require(Role.editor)
        outcome = promote(
            _queues(runtime),
            principal.project.id,
            name,
            dataset=dataset.strip() or None,
            message=message,
            actor=principal.actor,
        )
    except LlmloopError as exc:
        return _fragment(request, "_queue_error.html", status_code=exc.status, error=exc.message)
    return _fragment(request, "_queue_promoted.html", outcome=outcome)
