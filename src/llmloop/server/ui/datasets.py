"""Dataset pages: the list, and one dataset with versions, diff, fields and slice charts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from llmloop.data.datasets import Datasets, VersionDiff
from llmloop.errors import NotFoundError
from llmloop.runtime import Runtime
from llmloop.server.deps import RuntimeDep
from llmloop.server.ui.routes import TEMPLATES, _login_redirect, _page, _principal
from llmloop.store.datasets import DatasetVersion

router = APIRouter(include_in_schema=False)
PREVIEW_ROWS = 25


def _datasets(runtime: Runtime) -> Datasets:
    return Datasets(runtime.db, runtime.tenancy.audit)


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    summaries = _datasets(runtime).list(principal.project.id)
    return _page(request, "datasets.html", principal, active="datasets", summaries=summaries)


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(
    request: Request, runtime: RuntimeDep, name: str, version: str | None = None
) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    data = _datasets(runtime)
    project_id = principal.project.id
    try:
        summary = data.summary(project_id, name)
        selected = data.version(project_id, name, version) if summary.versions else None
    except NotFoundError as exc:
        context = {"principal": principal, "project": principal.project, "active": "datasets"}
        return TEMPLATES.TemplateResponse(
            request,
            "datasets.html",
            {**context, "summaries": data.list(project_id), "error": exc.message},
            status_code=404,
        )
    versions = data.versions(project_id, name)
    page = data.page(project_id, name, selected.id, limit=PREVIEW_ROWS) if selected else None
    aliases_of: dict[str, list[str]] = {}
    for alias in summary.aliases:
        aliases_of.setdefault(alias.version_id, []).append(alias.name)
    return _page(
        request,
        "datasets_detail.html",
        principal,
        active="datasets",
        summary=summary,
        versions=versions,
        selected=selected,
        page=page,
        diff=_previous_diff(data, project_id, name, selected, versions),
        aliases_of=aliases_of,
        slice_charts=_slice_charts(selected),
    )


def _slice_charts(version: DatasetVersion | None) -> list[dict[str, Any]]:
    """Chart data per slice as lists, which keep their order through JSON (dicts are sorted)."""
    if version is None:
        return []
    return [
        {"key": key, "labels": list(counts), "counts": list(counts.values())}
        for key, counts in version.field_schema.slices.items()
    ]


def _previous_diff(
    data: Datasets,
    project_id: str,
    name: str,
    selected: DatasetVersion | None,
    versions: list[DatasetVersion],
) -> VersionDiff | None:
    """The changes from the selected version's parent, or else from the one before it."""
    if selected is None:
        return None
    before = selected.parent_id or next(
        (v.id for v in versions if v.number == selected.number - 1), None
    )
    return None if before is None else data.diff(project_id, name, before, selected.id)
