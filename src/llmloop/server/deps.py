"""Request dependencies as ``Annotated`` aliases: the runtime, the caller, the project."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from llmloop.errors import NotFoundError
from llmloop.records import Project, Role
from llmloop.runtime import Runtime
from llmloop.tenancy import Principal

KEY_COOKIE = "llmloop_key"


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return request.cookies.get(KEY_COOKIE)


def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = runtime.tenancy.authenticate(bearer_secret(request))
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_project(
    principal: PrincipalDep, project: Annotated[str, Path(description="Project id or name.")]
) -> Project:
    """The project in the path, which must be the caller's own.

    Another project's objects answer 404, as if they did not exist.
    """
    own = principal.project
    if project not in (own.id, own.name):
        raise NotFoundError(f"project {project!r} not found")
    return own


ProjectDep = Annotated[Project, Depends(get_project)]


class RoleNeeded:
    def __init__(self, role: Role) -> None:
        self.role = role

    def __call__(self, principal: PrincipalDep) -> Principal:
        principal.require(self.role)
        return principal


Viewer = Annotated[Principal, Depends(RoleNeeded(Role.viewer))]
Editor = Annotated[Principal, Depends(RoleNeeded(Role.editor))]
Admin = Annotated[Principal, Depends(RoleNeeded(Role.admin))]
