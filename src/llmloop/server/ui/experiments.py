"""UI pages of experiments: the list, and the matrix view (a heat-map table of every
cell's metrics with intervals, paired deltas against the baseline cell, and a chart)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from llmloop.errors import LlmloopError
from llmloop.evaluation.experiments import ExperimentReport, better_direction, report
from llmloop.server.deps import RuntimeDep
from llmloop.server.ui.evaluations import _problem
from llmloop.server.ui.routes import _login_redirect, _page, _principal
from llmloop.store.evaluations import EvaluationRepository
from llmloop.store.experiments import ExperimentRepository

router = APIRouter(include_in_schema=False)


def shades(result: ExperimentReport) -> dict[str, dict[str, float]]:
    """Cell key -> metric -> 0..1, how good the cell is on that metric among the cells."""
    out: dict[str, dict[str, float]] = {c.key: {} for c in result.cells}
    for metric in result.metrics:
        values = {
            c.key: c.aggregates[metric].value
            for c in result.cells
            if metric in c.aggregates and c.aggregates[metric].value is not None
        }
        if not values:
            continue
        low, high = min(values.values()), max(values.values())  # type: ignore[type-var]
        for key, value in values.items():
            assert value is not None and low is not None and high is not None
            share = 1.0 if high == low else (value - low) / (high - low)
            out[key][metric] = share if better_direction(metric) > 0 else 1 - share
    return out


def chart_data(result: ExperimentReport) -> dict[str, Any]:
    """Per metric: each cell's value and interval, for the bar chart."""
    metrics = {}
    for metric in result.metrics:
        rows = [c.aggregates.get(metric) for c in result.cells]
        metrics[metric] = {
            "value": [a.value if a else None for a in rows],
            "interval": [[a.low, a.high] if a and a.low is not None else None for a in rows],
        }
    return {"cells": [c.key for c in result.cells], "metrics": metrics}


@router.get("/experiments", response_class=HTMLResponse)
def experiments_page(request: Request, runtime: RuntimeDep) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    experiments = ExperimentRepository(runtime.db).list(principal.project.id, limit=200)
    return _page(
        request, "experiments.html", principal, active="experiments", experiments=experiments
    )


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
def experiment_page(
    experiment_id: str, request: Request, runtime: RuntimeDep, baseline: str | None = None
) -> Response:
    principal = _principal(request, runtime)
    if principal is None:
        return _login_redirect(request)
    try:
        result = report(
            ExperimentRepository(runtime.db),
            EvaluationRepository(runtime.db),
            principal.project.id,
            experiment_id,
            baseline=baseline,
        )
    except LlmloopError as exc:
        return _problem(request, principal, exc)
    return _page(
        request,
        "experiment.html",
        principal,
        active="experiments",
        result=result,
        shades=shades(result),
        chart=chart_data(result),
    )
