"""Projects: a key sees its own project only."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from llmloop.records import ApiKey, AuditEvent, Project, Role
from llmloop.runtime import Runtime
from llmloop.server.deps import Admin, ProjectDep, RuntimeDep, Viewer

router = APIRouter(tags=["projects"])


class ProjectCreate(BaseModel):
    name: str = Field(min_length=1, max_length=63, examples=["support-bot"])
    description: str = Field(default="", max_length=2000)


class ProjectCreated(BaseModel):
    project: Project
    admin_key: ApiKey
    secret: str = Field(description="The new project's first admin key; shown only once.")


class Overview(BaseModel):
    project: Project
    counts: dict[str, int]
    recent_activity: list[AuditEvent]


@router.get("/projects", summary="The caller's project (a key belongs to one project).")
def list_projects(principal: Viewer) -> list[Project]:
    return [principal.project]


@router.post("/projects", status_code=201, summary="Create a project and its first admin key.")
def create_project(body: ProjectCreate, principal: Admin, runtime: RuntimeDep) -> ProjectCreated:
    tenancy = runtime.tenancy
    project = tenancy.create_project(body.name, body.description, actor=principal.actor)
    key, secret = tenancy.create_key(project.id, "admin", Role.admin, actor=principal.actor)
    return ProjectCreated(project=project, admin_key=key, secret=secret)


@router.get("/projects/{project}", summary="One project.")
def get_project(project: ProjectDep, _: Viewer) -> Project:
    return project


@router.get("/projects/{project}/overview", summary="Numbers for the project's home page.")
def overview(project: ProjectDep, _: Viewer, runtime: RuntimeDep) -> Overview:
    return Overview(
        project=project,
        counts=project_counts(runtime, project),
        recent_activity=runtime.tenancy.history(project.id, limit=10),
    )


def project_counts(runtime: Runtime, project: Project) -> dict[str, int]:
    keys = runtime.tenancy.keys.list(project.id)
    return {
        "api_keys": len(keys),
        "audit_events": runtime.tenancy.audit.count(project.id),
        "providers": len(runtime.providers.names()),
    }
