"""API keys of the caller's project (admin only)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from llmloop.records import ApiKey, Role
from llmloop.server.deps import Admin, ProjectDep, RuntimeDep

router = APIRouter(tags=["keys"])


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["ci"])
    role: Role = Role.viewer
    public: bool = Field(default=False, description="Feedback-ingestion-only key for browsers.")


class KeyCreated(BaseModel):
    key: ApiKey
    secret: str = Field(description="Shown only once; store it now.")


class KeyRevoke(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


@router.get("/projects/{project}/keys", summary="Active keys (secrets are never returned).")
def list_keys(project: ProjectDep, _: Admin, runtime: RuntimeDep) -> list[ApiKey]:
    return runtime.tenancy.keys.list(project.id)


@router.post("/projects/{project}/keys", status_code=201, summary="Issue a key.")
def create_key(
    body: KeyCreate, project: ProjectDep, principal: Admin, runtime: RuntimeDep
) -> KeyCreated:
    key, secret = runtime.tenancy.create_key(
        project.id, body.name, body.role, actor=principal.actor, public=body.public
    )
    return KeyCreated(key=key, secret=secret)


@router.post("/projects/{project}/keys/{key_id}/revoke", summary="Revoke a key.")
def revoke_key(
    key_id: str,
    project: ProjectDep,
    principal: Admin,
    runtime: RuntimeDep,
    body: KeyRevoke | None = None,
) -> ApiKey:
    reason = body.reason if body else None
    return runtime.tenancy.revoke_key(project.id, key_id, actor=principal.actor, reason=reason)
