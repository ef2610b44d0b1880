"""UI pages. Auth is the API key in an HttpOnly cookie, set on the login page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from llmloop import __version__
from llmloop.errors import AuthenticationError, LlmloopError
from llmloop.records import Role
from llmloop.server.api.projects import project_counts
from llmloop.server.deps import KEY_COOKIE, RuntimeDep, bearer_secret
from llmloop.server.ui.nav import sections
from llmloop.tenancy import Principal

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
STAT_LABELS = {"api_keys": "API keys", "audit_events": "Audit events", "providers": "Providers"}
TEMPLATES.env.globals.update(
    version=__version__,
    nav_sections=sections,
    stat_label=lambda name: STAT_LABELS.get(name, name.replace("_", " ").capitalize()),
)

router = APIRouter(include_in_schema=False)


def _principal(request: Request, runtime: RuntimeDep) -> Principal | None:
    """The signed-in caller; a public (feedback-only) key counts as no key at all."""
    try:
        principal = runtime.tenancy.authenticate(bearer_secret(request))
    except AuthenticationError:
        return None
    return None if principal.public else principal


def _page(request: Request, template: str, principal: Principal, **context: Any) -> Response:
    return TEMPLATES.TemplateResponse(
        request, template, {"principal": principal, "project": principal.project, **context}
    )


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


@router.get("/login")
def login_page(
    request: Request, runtime: RuntimeDep, key: str | None = None, next: str = "/"
) -> Response:
    if key:
        return _accept_key(runtime, key, _local_path(next))
    return TEMPLATES.TemplateResponse(
        request, "login.html", {"error": None, "next": _local_path(next)}
    )


@router.post("/login")
def login(
    request: Request, runtime: RuntimeDep, key: Annotated[str, Form()], next: str = "/"
) -> Response:
    response = _accept_key(runtime, key, _local_path(next))
    if response.status_code == 401:
        return TEMPLATES.TemplateResponse(
            request,
            "login.html",
            {"error": "That key is invalid or revoked.", "next": _local_path(next)},
            status_code=401,
        )
    return response


def _local_path(path: str) -> str:
    """``path`` when it stays on this site, else ``/`` ("//host" and "/\\host" leave it)."""
    return path if path.startswith("/") and not path.startswith(("//", "/\\")) else "/"


def _accept_key(runtime: RuntimeDep, key: str, next_path: str) -> Response:
    try:
        principal = runtime.tenancy.authenticate(key.strip())
    except AuthenticationError:
        return Response(status_code=401)
    if principal.public:
        return Response(status_code=401)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(KEY_COOKIE, key.strip(), httponly=True, samesite="strict")
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(KEY_COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    project = principal.project
    return _page(
        request,
        "home.html",
        principal,
        active="home",
        counts=project_counts(runtime, project),
        activity=runtime.tenancy.history(project.id, limit=10),
    )


@router.get("/models", response_class=HTMLResponse)
async def models_page(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    listing = await runtime.providers.list_all_models()
    return _page(
        request,
        "models.html",
        principal,
        active="models",
        providers=runtime.providers.names(),
        models=listing,
        default_chat=runtime.settings.default_chat_model,
        default_embedding=runtime.settings.default_embedding_model,
    )


@router.get("/keys", response_class=HTMLResponse)
def keys_page(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    can_admin = principal.role.allows(Role.admin)
    keys = runtime.tenancy.keys.list(principal.project.id) if can_admin else []
    return _page(
        request,
        "keys.html",
        principal,
        active="keys",
        keys=keys,
        can_admin=can_admin,
        roles=[r.value for r in Role],
    )


@router.post("/keys", response_class=HTMLResponse)
def create_key_fragment(
    request: Request,
    runtime: RuntimeDep,
    name: Annotated[str, Form()],
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return Response(status_code=401)
    try:
        principal.require(Role.admin)
        key, secret = runtime.tenancy.create_key(
            principal.project.id, name, Role(role), actor=principal.actor
        )
    except (LlmloopError, ValueError) as exc:
        message = exc.message if isinstance(exc, LlmloopError) else str(exc)
        return TEMPLATES.TemplateResponse(
            request, "_key_created.html", {"error": message}, status_code=400
        )
    return TEMPLATES.TemplateResponse(
        request, "_key_created.html", {"key": key, "secret": secret, "error": None}
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    events = runtime.tenancy.audit.list(principal.project.id, limit=200)
    return _page(request, "audit.html", principal, active="audit", events=events)
