"""Trace pages: the list with filters and charts over time, and one trace's span tree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from llmloop.errors import NotFoundError
from llmloop.server.deps import RuntimeDep
from llmloop.server.ui.routes import _login_redirect, _page, _principal
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
}
FILTER_FIELDS = ("name", "model", "status", "text")


@dataclass(frozen=True, slots=True)
class SpanRow:
    """One line of the span tree: the span, its depth, and its bar on the timeline (%)."""

    span: Span
    depth: int
    offset_pct: float
    width_pct: float


def _filters(request: Request) -> tuple[str, dict[str, str]]:
    params = request.query_params
    chosen = params.get("range", "24h")
    values = {k: params[k].strip() for k in FILTER_FIELDS if params.get(k, "").strip()}
    return chosen, values


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
    chosen, values = _filters(request)
    context: dict[str, Any] = {"active": "traces", "ranges": list(RANGES), "range": chosen,
                               "filters": values, "traces": [], "charts": None}  # fmt: skip
    service = TraceService(runtime.db)
    try:
        if chosen not in RANGES:
            raise ValueError(f"unknown time range {chosen!r}; choose one of {', '.join(RANGES)}")
        back, bucket = RANGES[chosen]
        since = datetime.now(UTC) - back if back else None
        where = TraceFilter(since=since, limit=PAGE_SIZE, **values)
        query = TraceStatsQuery(bucket=bucket, since=since, **values)
    except (ValidationError, ValueError) as exc:
        message = _message(exc)
        response = _page(request, "traces.html", principal, error=message, **context)
        response.status_code = 400
        return response
    context["traces"] = service.list(principal.project.id, where)
    context["charts"] = _chart_data(service.repo.stats(principal.project.id, query))
    context["bucket"] = bucket
    return _page(request, "traces.html", principal, **context)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)


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
        pretty=_pretty,
    )  # fmt: skip
