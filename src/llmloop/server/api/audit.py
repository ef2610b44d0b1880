"""The project's audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from llmloop.records import AuditEvent
from llmloop.server.deps import ProjectDep, RuntimeDep, Viewer

router = APIRouter(tags=["audit"])


@router.get("/projects/{project}/audit", summary="Who did what, when and why; newest first.")
def list_audit(
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    object_type: str | None = None,
    object_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEvent]:
    return runtime.tenancy.audit.list(
        project.id, object_type=object_type, object_id=object_id, limit=limit
    )
