"""Run-level aggregates with bootstrap intervals, from a run's per-record results.

Each score name gets its mean over the records that have it (bools count 0/1); scorers
with an aggregator (classification) add run-level metrics, resampled whole.

A streaming run keeps only an :class:`Accumulator` (one float per record and score
name); aggregators read their rows back from the store (:class:`StoredRows`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

import numpy as np

from llmloop.evaluation.scorers import Row, ScorerConfig
from llmloop.evaluation.scorers.base import has_aggregate, prepare_aggregate
from llmloop.evaluation.statistics import DEFAULT_RESAMPLES, bootstrap_means
from llmloop.store.evaluations import Aggregate, EvalResult, EvaluationRepository


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
    return [_row(r) for r in results if r.outputs is not None]


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
    return aggregate_columns(
        scorers, score_values(results), lambda: rows_of(results), resamples=resamples, seed=seed
    )


def aggregate_columns(
    scorers: Sequence[ScorerConfig],
    columns: dict[str, np.ndarray],
    rows: Callable[[], Sequence[Row]],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[dict[str, Aggregate], dict[str, Any]]:
    """Aggregates from score columns (NaN where a record lacks the score) and, for
    scorers with an aggregator, the rows of the records that have outputs."""
    aggregates: dict[str, Aggregate] = {}
    intervals = bootstrap_means(columns, resamples=resamples, seed=seed)
    for name, ci in intervals.items():
        aggregates[name] = to_aggregate(ci.value, ci.low, ci.high, ci.n)
    details: dict[str, Any] = {}
    with_aggregate = [config for config in scorers if has_aggregate(config)]
    loaded = rows() if with_aggregate else []
    for config in with_aggregate:
        values, extra = run_level(config, loaded, resamples=resamples, seed=seed)
        aggregates.update(values)
        details.update(extra)
    return aggregates, details


class Accumulator:
    """What a streaming run keeps per record: each numeric score in a float array indexed
    by record position (NaN where absent), and counts."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.columns: dict[str, np.ndarray] = {}
        self.n = 0
        self.n_errors = 0
        self.n_with_outputs = 0

    def add(self, result: EvalResult) -> None:
        self.n += 1
        self.n_errors += result.error is not None
        self.n_with_outputs += result.outputs is not None
        for score in result.scores:
            value = score.numeric
            if value is None:
                continue
            column = self.columns.get(score.name)
            if column is None:
                column = self.columns[score.name] = np.full(self.total, np.nan)
            column[result.position] = value


class StoredRows(Sequence[Row]):
    """A run's rows (records with outputs) read back from the store in position order,
    page by page on every iteration, for aggregators over runs too long to hold."""

    def __init__(self, repo: EvaluationRepository, project_id: str, run_id: str, n: int) -> None:
        self.repo, self.project_id, self.run_id, self.n = repo, project_id, run_id, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Row]:
        for result in self.repo.iter_results(self.project_id, self.run_id):
            if result.outputs is not None:
                yield _row(result)

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | Sequence[Row]:
        rows = list(self)  # rare: aggregators iterate; indexing reads the run once
        return rows[index]


def _row(r: EvalResult) -> Row:
    return Row(
        outputs=r.outputs or {},
        expectations=r.expectations or {},
        metadata=r.metadata,
        scores=r.scores,
    )


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
