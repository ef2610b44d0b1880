"""Run-level aggregates with bootstrap intervals, from a run's per-record results.

Each score name gets its mean over the records that have it (bools count 0/1); scorers
with an aggregator (classification) add run-level metrics, resampled whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llmloop.evaluation.scorers import Row, ScorerConfig
from llmloop.evaluation.scorers.base import has_aggregate, prepare_aggregate
from llmloop.evaluation.statistics import DEFAULT_RESAMPLES, bootstrap_means
from llmloop.store.evaluations import Aggregate, EvalResult


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def to_aggregate(value: float, low: float, high: float, n: int) -> Aggregate:
    return Aggregate(value=_finite(value), low=_finite(low), high=_finite(high), n=n)


def score_values(results: Sequence[EvalResult]) -> dict[str, np.ndarray]:
    """Numeric score values by name, one slot per result (NaN where a record lacks it)."""
    names: dict[str, None] = {}
    for result in results:
        for score in result.scores:
            if score.numeric is not None:
                names.setdefault(score.name)
    columns = {name: np.full(len(results), np.nan) for name in names}
    for i, result in enumerate(results):
        for score in result.scores:
            value = score.numeric
            if value is not None and score.name in columns:
                columns[score.name][i] = value
    return columns


def rows_of(results: Sequence[EvalResult]) -> list[Row]:
    return [
        Row(
            outputs=r.outputs or {},
            expectations=r.expectations or {},
            metadata=r.metadata,
            scores=r.scores,
        )
        for r in results
        if r.outputs is not None
    ]


def run_level(
    config: ScorerConfig, rows: Sequence[Row], *, resamples: int, seed: int
) -> tuple[dict[str, Aggregate], dict[str, Any]]:
    """A scorer's run-level metrics, each with a percentile bootstrap interval."""
    prepared = prepare_aggregate(config, rows)
    if prepared is None or not rows:
        return {}, (prepared.details if prepared else {})
    full = prepared.values(np.arange(len(rows)))
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {name: [] for name in full}
    for _ in range(resamples):
        metrics = prepared.values(rng.integers(0, len(rows), size=len(rows)))
        for name in samples:
            samples[name].append(metrics.get(name, 0.0))
    out = {}
    for name, value in full.items():
        low, high = np.quantile(samples[name], [0.025, 0.975])
        out[name] = to_aggregate(value, min(low, value), max(high, value), len(rows))
    return out, prepared.details


def aggregate_run(
    scorers: Sequence[ScorerConfig],
    results: Sequence[EvalResult],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[dict[str, Aggregate], dict[str, Any]]:
    """All aggregates of a run and the details (confusion matrices, …)."""
    aggregates: dict[str, Aggregate] = {}
    intervals = bootstrap_means(score_values(results), resamples=resamples, seed=seed)
    for name, ci in intervals.items():
        aggregates[name] = to_aggregate(ci.value, ci.low, ci.high, ci.n)
    details: dict[str, Any] = {}
    rows = rows_of(results)
    for config in scorers:
        if has_aggregate(config):
            values, extra = run_level(config, rows, resamples=resamples, seed=seed)
            aggregates.update(values)
            details.update(extra)
    return aggregates, details


def slice_means(results: Sequence[EvalResult], *, max_values: int = 20) -> list[dict[str, Any]]:
    """Mean of every score per metadata slice (keys with at most ``max_values`` values)."""
    columns = score_values(results)
    rows: list[dict[str, Any]] = []
    for key in sorted({k for r in results for k in r.metadata}):
        labels = [str(r.metadata[key]) if key in r.metadata else None for r in results]
        distinct = sorted({v for v in labels if v is not None})
        if not 1 <= len(distinct) <= max_values:
            continue
        for value in distinct:
            mask = np.array([v == value for v in labels])
            means = {}
            for name, column in columns.items():
                present = column[mask][~np.isnan(column[mask])]
                means[name] = float(present.mean()) if len(present) else None
            rows.append({"key": key, "value": value, "n": int(mask.sum()), "means": means})
    return rows


def distributions(results: Sequence[EvalResult], *, bins: int = 10) -> dict[str, Any]:
    """Histogram of each score over the run: bin edges and counts."""
    out: dict[str, Any] = {}
    for name, column in score_values(results).items():
        present = column[~np.isnan(column)]
        if not len(present):
            continue
        low, high = float(present.min()), float(present.max())
        counts, edges = np.histogram(present, bins=bins if high > low else 1)
        out[name] = {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
    return out
