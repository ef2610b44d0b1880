"""What every suite shares: the report type, running records through ``aevaluate``,
efficiency figures from the per-record results, and storing the report with its run.

A suite is one evaluation run over the clean records plus the variants it makes
(perturbed, counterfactual, position-swapped …), tagged in their metadata with
``suite.variant`` and ``suite.source``. The run is stored like any other (it shows in the
runs list and the UI); the suite's report is kept in the run's ``details["suite"]`` and
its headline metrics are added to the run's aggregates as ``<kind>.<metric>``, so a gate
can check them (``robustness.consistency>=0.9``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from llmloop.errors import NotFoundError, ValidationError
from llmloop.evaluation.aggregates import to_aggregate
from llmloop.evaluation.runner import aevaluate
from llmloop.evaluation.scorers import ScorerConfig
from llmloop.evaluation.statistics import Interval, PairedDelta, paired_bootstrap
from llmloop.evaluation.targets import resolve_target
from llmloop.records import Frozen, Record
from llmloop.runtime import Runtime
from llmloop.store.evaluations import Aggregate, EvalResult, EvalRun, EvaluationRepository

RecordsLike = Iterable[Record | Mapping[str, Any]] | pd.DataFrame
ScorersLike = Sequence[ScorerConfig | str | Mapping[str, Any]]
SuiteKind = Literal["robustness", "fairness", "bbq", "crows_pairs", "calibration"]
VARIANT = "suite.variant"
SOURCE = "suite.source"
CLEAN = "clean"


class Table(Frozen):
    title: str
    columns: list[str]
    rows: list[list[Any]]


class Chart(Frozen):
    """Data for one chart: ``bar`` (a series per name over ``labels``) or ``reliability``
    (``labels`` are bin confidences; series ``accuracy``, ``confidence`` and ``count``)."""

    title: str
    type: Literal["bar", "reliability"] = "bar"
    labels: list[str]
    series: dict[str, list[float | None]]


class Efficiency(Frozen):
    """Cost of the suite's run: per model call, per source record and in total."""

    calls: int
    source_records: int
    errors: int
    latency_ms_mean: float | None = None
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    latency_ms_total: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_call: float | None = None
    tokens_per_record: float | None = None
    cost_usd: float = 0.0
    cost_per_call_usd: float | None = None
    cost_per_record_usd: float | None = None


class SuiteReport(Frozen):
    kind: SuiteKind
    run_id: str
    name: str
    target: str
    settings: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Aggregate] = Field(description="Headline metrics with 95% intervals.")
    tables: list[Table] = Field(default_factory=list)
    charts: list[Chart] = Field(default_factory=list)
    examples: list[dict[str, Any]] = Field(default_factory=list)
    efficiency: Efficiency
    notes: list[str] = Field(default_factory=list)


def interval(ci: Interval) -> Aggregate:
    return to_aggregate(ci.value, ci.low, ci.high, ci.n)


def delta_aggregate(delta: PairedDelta) -> Aggregate:
    return to_aggregate(delta.delta, delta.low, delta.high, delta.n)


def paired_mean_delta(
    baseline: np.ndarray, candidate: np.ndarray, *, resamples: int, seed: int
) -> PairedDelta:
    """:func:`~llmloop.evaluation.statistics.paired_bootstrap` of two paired columns of
    values (the same resampled indices and figures), vectorised over the resamples."""
    n = len(baseline)
    if n == 0:
        return paired_bootstrap(baseline, candidate, resamples=resamples, seed=seed)
    diff = np.asarray(candidate, float) - np.asarray(baseline, float)
    indices = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    deltas = diff[indices].mean(axis=1)
    base, cand = float(np.mean(baseline)), float(np.mean(candidate))
    if np.allclose(deltas, deltas[0]) and np.isclose(deltas[0], 0):
        return PairedDelta(base, cand, cand - base, 0.0, 0.0, 1.0, n)
    low, high = np.quantile(deltas, [0.025, 0.975])
    below, above = float(np.mean(deltas <= 0)), float(np.mean(deltas >= 0))
    p = min(1.0, 2 * min(below, above))
    return PairedDelta(base, cand, cand - base, float(low), float(high), p, n)


def fmt(value: float | None, digits: int = 3) -> float | None:
    """A rounded float for tables (None for missing or NaN)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return round(float(value), digits)


def ci_text(agg: Aggregate) -> str:
    if agg.low is None or agg.high is None:
        return "-"
    return f"[{agg.low:.3f}, {agg.high:.3f}]"


def text_field(records: Sequence[Record], field: str | None) -> str:
    """The input field a suite rewrites: ``field``, or the records' only text input."""
    if field is not None:
        missing = [r.id for r in records if not isinstance(r.inputs.get(field), str)]
        if missing:
            raise ValidationError(
                f"inputs.{field} must be text in every record; it is missing or not text in "
                f"{len(missing)} record(s): {', '.join(missing[:5])}"
            )
        return field
    names = {k for r in records for k, v in r.inputs.items() if isinstance(v, str)}
    if len(names) == 1:
        (only,) = names
        return text_field(records, only)
    raise ValidationError(
        f"say which input field to rewrite (field=...): the records have text inputs "
        f"{sorted(names) or 'none'}"
    )


def variant(record: Record, name: str, text_key: str, text: str) -> Record:
    """A copy of ``record`` with ``inputs[text_key] = text``, tagged as variant ``name``."""
    return Record(
        id=f"{record.id}~{name}",
        inputs={**record.inputs, text_key: text},
        expectations=record.expectations,
        metadata={**record.metadata, VARIANT: name, SOURCE: record.id},
    )


def clean(record: Record) -> Record:
    return record.model_copy(
        update={"metadata": {**record.metadata, VARIANT: CLEAN, SOURCE: record.id}}
    )


def output_key(outputs: Mapping[str, Any] | None, field: str | None = None) -> str | None:
    """What consistency compares: ``outputs[field]``, else the label, else the text,
    normalised (case, surrounding and repeated whitespace)."""
    if outputs is None:
        return None
    if field is None:
        field = "label" if "label" in outputs else "text" if "text" in outputs else None
    value: Any = outputs if field is None else outputs.get(field)
    if not isinstance(value, str):
        value = json.dumps(value, sort_keys=True, default=str)
    return " ".join(value.casefold().split())


def efficiency(results: Sequence[EvalResult], source_records: int) -> Efficiency:
    latencies = np.array([r.latency_ms for r in results if r.latency_ms is not None])
    prompt = sum(r.prompt_tokens or 0 for r in results)
    completion = sum(r.completion_tokens or 0 for r in results)
    cost = float(sum(r.cost_usd or 0.0 for r in results))
    calls = len(results)
    has_latency = len(latencies) > 0
    return Efficiency(
        calls=calls,
        source_records=source_records,
        errors=sum(1 for r in results if r.error is not None),
        latency_ms_mean=fmt(latencies.mean(), 2) if has_latency else None,
        latency_ms_p50=fmt(np.percentile(latencies, 50), 2) if has_latency else None,
        latency_ms_p95=fmt(np.percentile(latencies, 95), 2) if has_latency else None,
        latency_ms_total=fmt(latencies.sum(), 1) if has_latency else None,
        prompt_tokens=prompt,
        completion_tokens=completion,
        tokens_per_call=fmt((prompt + completion) / calls, 2) if calls else None,
        tokens_per_record=fmt((prompt + completion) / source_records, 2)
        if source_records
        else None,
        cost_usd=round(cost, 8),
        cost_per_call_usd=round(cost / calls, 8) if calls else None,
        cost_per_record_usd=round(cost / source_records, 8) if source_records else None,
    )


async def run_records(
    target: Any,
    records: list[Record],
    scorers: Sequence[Any],
    *,
    runtime: Runtime,
    kind: SuiteKind,
    options: Mapping[str, Any],
) -> tuple[EvalRun, list[EvalResult]]:
    """Evaluate ``target`` on the suite's records; the stored run and its results."""
    opts = dict(options)
    if opts.get("name") is None:
        opts["name"] = f"{kind}: {resolve_target(target).description}"[:200]
    run = await aevaluate(target, records, scorers, runtime=runtime, **opts)
    repo = EvaluationRepository(runtime.db)
    results = await asyncio.to_thread(repo.results, run.project_id, run.id)
    return run, results


async def store_report(runtime: Runtime, run: EvalRun, report: SuiteReport) -> SuiteReport:
    """Keep ``report`` in the run's details and its metrics among the run's aggregates."""
    aggregates = dict(run.aggregates)
    aggregates.update({f"{report.kind}.{k}": v for k, v in report.metrics.items()})
    details = {**run.details, "suite": report.model_dump(mode="json")}
    repo = EvaluationRepository(runtime.db)
    await asyncio.to_thread(
        repo.finish_run,
        run.project_id,
        run.id,
        aggregates=aggregates,
        details=details,
        n_errors=run.n_errors,
        n_records=run.n_records,
    )
    return report


def stored_report(repo: EvaluationRepository, project_id: str, run_id: str) -> SuiteReport:
    """The suite report kept with run ``run_id`` (404 when it is a plain run)."""
    run = repo.get(project_id, run_id)
    data = run.details.get("suite")
    if not isinstance(data, dict):
        raise NotFoundError(f"evaluation run {run_id!r} is not a suite run (it has no report)")
    return SuiteReport.model_validate(data)


def run_sync(
    fn: Callable[..., Coroutine[Any, Any, SuiteReport]],
    *args: Any,
    runtime: Runtime | None = None,
    **options: Any,
) -> SuiteReport:
    """Run an async suite from code without an event loop (opens a runtime when none)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ValidationError(
            f"{fn.__name__[1:]}() runs its own event loop; inside async code (or Jupyter) "
            f"use 'await {fn.__name__}(...)'"
        )
    owned = runtime is None
    rt = runtime or Runtime()

    async def main() -> SuiteReport:
        try:
            return await fn(*args, runtime=rt, **options)
        finally:
            await rt.providers.aclose()

    try:
        return asyncio.run(main())
    finally:
        if owned:
            rt.close()
