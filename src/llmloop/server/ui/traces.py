"""Trace pages: the list with filters, charts over time and "add to dataset", and one
trace's span tree with its scores and end-user feedback."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from llmloop.data.datasets import Datasets
from llmloop.data.from_traces import TraceRecords
from llmloop.errors import LlmloopError, NotFoundError
from llmloop.records import Role, Score, ScoreSourceKind
from llmloop.server.deps import RuntimeDep
from llmloop.server.ui.routes import TEMPLATES, _login_redirect, _page, _principal
from llmloop.store.trace_stats_types import Bucket, TraceStatsQuery, TraceStatsRow
from llmloop.store.traces_types import Span, SpanNode, TraceFilter
from llmloop.tracing.service import TraceService

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100
# time range choice -> (how far back, chart bucket); "all" has no lower bound
RANGES: dict[str, tuple[timedelta | None, Bucket]] = {
    "1h": (timedelta(hours=1), "minute"),
    "24h": (timedelta(hours=24), "hour"),
    "7d": (timedelta(days=7), "hour"),
    "30d": (timedelta(days=30), "day"),
    "all": (None, "day"),
    "custom": (None, "day"),
}
# query parameter -> TraceFilter field; all of them stay in the page's URL
FILTER_FIELDS = {
    "name": "name",
    "model": "model",
    "status": "status",
    "text": "text",
    "user": "user_id",
    "session": "session_id",
    "min_cost": "min_cost_usd",
    "max_cost": "max_cost_usd",
    "min_ms": "min_duration_ms",
    "max_ms": "max_duration_ms",
}
CHART_FILTERS = ("name", "model", "status", "text", "tags")  # what the aggregate query takes


@dataclass(frozen=True, slots=True)
class Selection:
    """The list's filters as the URL gave them, and as a :class:`TraceFilter`'s fields."""

    range: str
    values: dict[str, str]  # every non-empty parameter, to refill the form and build links
    fields: dict[str, Any]  # TraceFilter fields (since/until resolved from the range)
    bucket: Bucket
    offset: int

    def link(self, **changes: Any) -> str:
        params = {"range": self.range, **self.values, **changes}
        return "/traces?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})


def _utc(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    return value.replace(tzinfo=value.tzinfo or UTC)


def _custom_range(values: dict[str, str]) -> tuple[dict[str, Any], Bucket]:
    fields: dict[str, Any] = {}
    for side in ("since", "until"):
        if side in values:
            fields[side] = _utc(values[side], side)
    since, until = fields.get("since"), fields.get("until")
    span = (until or datetime.now(UTC)) - since if since else None
    if span is not None and span <= timedelta(hours=2):
        return fields, "minute"
    return fields, "hour" if span is not None and span <= timedelta(days=7) else "day"


def _selection(request: Request) -> Selection:
    """The filters of the URL; ValueError naming a bad one."""
    params = request.query_params
    chosen = params.get("range", "24h")
    if chosen not in RANGES:
        raise ValueError(f"unknown time range {chosen!r}; choose one of {', '.join(RANGES)}")
    names = [*FILTER_FIELDS, "tags", "since", "until"]
    values = {k: params[k].strip() for k in names if params.get(k, "").strip()}
    fields: dict[str, Any] = {FILTER_FIELDS[k]: v for k, v in values.items() if k in FILTER_FIELDS}
    if "tags" in values:
        fields["tags"] = [t.strip() for t in values["tags"].split(",") if t.strip()]
    back, bucket = RANGES[chosen]
    if chosen == "custom":
        bounds, bucket = _custom_range(values)
        fields.update(bounds)
    elif back is not None:
        fields["since"] = datetime.now(UTC) - back
    offset_text = params.get("offset", "0").strip() or "0"
    if not offset_text.isdigit():
        raise ValueError(f"offset: {offset_text!r} is not a whole number")
    return Selection(chosen, values, fields, bucket, int(offset_text))


def _chart_data(rows: list[TraceStatsRow]) -> dict[str, list[Any]]:
    return {
        "labels": [r.bucket_start.strftime("%Y-%m-%d %H:%M") for r in rows],
        "count": [r.count for r in rows],
        "p95": [r.p95_latency_ms for r in rows],
        "cost": [r.cost_usd or 0.0 for r in rows],
        "error_rate": [round(r.error_rate * 100, 2) for r in rows],
    }


@router.get("/traces", response_class=HTMLResponse)
def traces_page(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    context: dict[str, Any] = {"active": "traces", "ranges": list(RANGES), "traces": [],
                               "charts": None, "page_size": PAGE_SIZE,
                               "can_edit": principal.role.allows(Role.editor)}  # fmt: skip
    try:
        chosen = _selection(request)
        context.update(range=chosen.range, filters=chosen.values, selection=chosen)
        where = TraceFilter(**chosen.fields, limit=PAGE_SIZE, offset=chosen.offset)
        charted = {
            k: v for k, v in chosen.fields.items() if k in (*CHART_FILTERS, "since", "until")
        }
        query = TraceStatsQuery(bucket=chosen.bucket, **charted)
    except (ValidationError, ValueError) as exc:
        context.setdefault("range", request.query_params.get("range", "24h"))
        context.setdefault("filters", dict(request.query_params))
        response = _page(request, "traces.html", principal, error=_message(exc), **context)
        response.status_code = 400
        return response
    service = TraceService(runtime.db)
    project_id = principal.project.id
    context["traces"] = service.list(project_id, where)
    context["charts"] = _chart_data(service.repo.stats(project_id, query))
    context["charts_partial"] = sorted(set(chosen.fields) - {*CHART_FILTERS, "since", "until"})
    context["bucket"] = chosen.bucket
    if context["can_edit"]:
        context["datasets"] = [d.name for d in Datasets(runtime.db, runtime.tenancy.audit)
                               .repo.list(project_id)]  # fmt: skip
    return _page(request, "traces.html", principal, **context)


@router.post("/traces/add-to-dataset", response_class=HTMLResponse)
def add_to_dataset_fragment(
    request: Request,
    runtime: RuntimeDep,
    dataset: Annotated[str, Form()] = "",
    trace_id: Annotated[list[str] | None, Form()] = None,
    expectations: Annotated[bool, Form()] = False,
    create: Annotated[bool, Form()] = False,
) -> Response:
    """The "Add to dataset" form under the list: the checked traces into a dataset."""
    principal = _principal(request, runtime)
    if principal is None:
        return Response(status_code=401)
    context: dict[str, Any] = {"added": None, "error": None}
    try:
        principal.require(Role.editor)
        if not dataset.strip():
            raise ValueError("name the dataset to add the traces to")
        added = TraceRecords(runtime.db, runtime.tenancy.audit).add(
            principal.project.id, dataset.strip(), trace_id or [], actor=principal.actor,
            expectations=expectations, create=create,
        )  # fmt: skip
        context["added"] = added
    except (LlmloopError, ValueError) as exc:
        context["error"] = exc.message if isinstance(exc, LlmloopError) else str(exc)
    status = 400 if context["error"] else 200
    return TEMPLATES.TemplateResponse(request, "_traces_added.html", context, status_code=status)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)


@dataclass(frozen=True, slots=True)
class SpanRow:
    """One line of the span tree: the span, its depth, and its bar on the timeline (%)."""

    span: Span
    depth: int
    offset_pct: float
    width_pct: float


def _flatten(nodes: list[SpanNode], start: datetime, total_ms: float) -> list[SpanRow]:
    rows: list[SpanRow] = []

    def visit(node: SpanNode, depth: int) -> None:
        s = node.span
        offset = (s.start_time - start).total_seconds() * 1000
        left = min(100.0, max(0.0, 100 * offset / total_ms))
        width = min(100.0 - left, max(0.5, 100 * s.duration_ms / total_ms))
        rows.append(SpanRow(s, depth, round(left, 2), round(width, 2)))
        for child in node.children:
            visit(child, depth + 1)

    for node in nodes:
        visit(node, 0)
    return rows


def _pretty(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False, default=str)


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(request: Request, runtime: RuntimeDep, trace_id: str) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    try:
        detail = TraceService(runtime.db).detail(principal.project.id, trace_id)
    except NotFoundError as exc:
        response = _page(
            request, "trace_detail.html", principal, active="traces", detail=None,
            error=exc.message,
        )  # fmt: skip
        response.status_code = 404
        return response
    total = max(detail.trace.duration_ms, 0.001)
    rows = _flatten(detail.spans, detail.trace.start_time, total)
    return _page(
        request, "trace_detail.html", principal, active="traces", detail=detail, rows=rows,
        pretty=_pretty, feedback=_feedback(detail.scores),
    )  # fmt: skip


def _feedback(scores: list[Score]) -> dict[str, int]:
    """End-user feedback at a glance: how many, and thumbs up/down among them."""
    mine = [s for s in scores if s.source.kind is ScoreSourceKind.user]
    return {
        "count": len(mine),
        "up": sum(1 for s in mine if s.value is True),
        "down": sum(1 for s in mine if s.value is False),
    }
