"""Paired comparison of two runs on the same records: deltas with intervals and p-values,
McNemar for binary scores, per-slice deltas and the records that regressed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llmloop.errors import ValidationError
from llmloop.evaluation.aggregates import rows_of, score_values
from llmloop.evaluation.scorers import load_scorer
from llmloop.evaluation.scorers.base import has_aggregate, prepare_aggregate
from llmloop.evaluation.statistics import DEFAULT_RESAMPLES, mcnemar, paired_bootstrap
from llmloop.records import Frozen
from llmloop.store.evaluations import EvalResult, EvalRun, EvaluationRepository

MAX_SLICE_VALUES = 20


class MetricDelta(Frozen):
    name: str
    baseline: float | None
    candidate: float | None
    delta: float | None
    low: float | None
    high: float | None
    p_value: float
    test: str
    n: int
    fixed: int | None = None
    broken: int | None = None


class SliceDelta(Frozen):
    key: str
    value: str
    metric: str
    n: int
    baseline: float
    candidate: float
    delta: float


class RegressedRecord(Frozen):
    record_id: str
    metric: str
    baseline: float
    candidate: float


class Comparison(Frozen):
    baseline_run: str
    candidate_run: str
    n_paired: int
    metrics: dict[str, MetricDelta]
    slices: list[SliceDelta]
    regressed: list[RegressedRecord]


def _num(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def pair(
    baseline: Sequence[EvalResult], candidate: Sequence[EvalResult]
) -> list[tuple[EvalResult, EvalResult]]:
    """Results of the same records: by record id, else by record content."""
    by_id = {r.record_id: r for r in baseline}
    pairs = [(by_id[r.record_id], r) for r in candidate if r.record_id in by_id]
    if not pairs:
        by_hash = {r.record_hash: r for r in baseline}
        pairs = [(by_hash[r.record_hash], r) for r in candidate if r.record_hash in by_hash]
    if not pairs:
        raise ValidationError("the two runs share no records (by id or content); nothing to pair")
    return pairs


def _score_deltas(
    a: list[EvalResult], b: list[EvalResult], resamples: int
) -> dict[str, MetricDelta]:
    cols_a, cols_b = score_values(a), score_values(b)
    out: dict[str, MetricDelta] = {}
    for name in sorted(set(cols_a) & set(cols_b)):
        x, y = cols_a[name], cols_b[name]
        both = ~np.isnan(x) & ~np.isnan(y)
        x, y = x[both], y[both]
        d = paired_bootstrap(x, y, resamples=resamples)
        extra: dict[str, Any] = {"test": d.test, "p_value": d.p_value}
        if len(x) and set(np.unique(np.concatenate([x, y]))) <= {0.0, 1.0}:
            m = mcnemar(x.astype(bool), y.astype(bool))
            extra = {"test": m.test, "p_value": m.p_value, "fixed": m.fixed, "broken": m.broken}
        out[name] = MetricDelta(
            name=name,
            baseline=_num(d.baseline),
            candidate=_num(d.candidate),
            delta=_num(d.delta),
            low=_num(d.low),
            high=_num(d.high),
            n=d.n,
            **extra,
        )
    return out


def _run_level_deltas(
    specs: list[dict[str, Any]], a: list[EvalResult], b: list[EvalResult], resamples: int
) -> dict[str, MetricDelta]:
    out: dict[str, MetricDelta] = {}
    keep = [i for i in range(len(a)) if a[i].outputs is not None and b[i].outputs is not None]
    rows_a, rows_b = rows_of([a[i] for i in keep]), rows_of([b[i] for i in keep])
    n = len(keep)
    for config in (load_scorer(s) for s in specs):
        if not has_aggregate(config) or n == 0:
            continue
        prep_a, prep_b = prepare_aggregate(config, rows_a), prepare_aggregate(config, rows_b)
        assert prep_a is not None and prep_b is not None
        full_a, full_b = prep_a.values(np.arange(n)), prep_b.values(np.arange(n))
        names = sorted(set(full_a) & set(full_b))
        rng = np.random.default_rng(0)
        deltas: dict[str, list[float]] = {k: [] for k in names}
        for _ in range(resamples):
            idx = rng.integers(0, n, size=n)
            ra, rb = prep_a.values(idx), prep_b.values(idx)
            for k in names:
                deltas[k].append(rb.get(k, 0.0) - ra.get(k, 0.0))
        for k in names:
            samples = np.asarray(deltas[k])
            low, high = np.quantile(samples, [0.025, 0.975])
            p = min(1.0, 2 * min(float(np.mean(samples <= 0)), float(np.mean(samples >= 0))))
            delta = full_b[k] - full_a[k]
            out[k] = MetricDelta(
                name=k,
                baseline=full_a[k],
                candidate=full_b[k],
                delta=delta,
                low=min(float(low), delta),
                high=max(float(high), delta),
                p_value=1.0 if np.allclose(samples, 0) else p,
                test="paired_bootstrap",
                n=n,
            )
    return out


def _slices(a: list[EvalResult], b: list[EvalResult]) -> list[SliceDelta]:
    cols_a, cols_b = score_values(a), score_values(b)
    names = sorted(set(cols_a) & set(cols_b))
    keys = sorted({k for r in b for k in r.metadata})
    out = []
    for key in keys:
        values = [str(r.metadata.get(key)) if key in r.metadata else None for r in b]
        distinct = sorted({v for v in values if v is not None})
        if not 1 <= len(distinct) <= MAX_SLICE_VALUES:
            continue
        for value in distinct:
            mask = np.array([v == value for v in values])
            for name in names:
                x, y = cols_a[name][mask], cols_b[name][mask]
                both = ~np.isnan(x) & ~np.isnan(y)
                if both.any():
                    base, cand = float(x[both].mean()), float(y[both].mean())
                    out.append(
                        SliceDelta(
                            key=key,
                            value=value,
                            metric=name,
                            n=int(both.sum()),
                            baseline=base,
                            candidate=cand,
                            delta=cand - base,
                        )
                    )
    return out


def _regressed(a: list[EvalResult], b: list[EvalResult]) -> list[RegressedRecord]:
    out = []
    for ra, rb in zip(a, b, strict=True):
        before = {s.name: s.numeric for s in ra.scores if s.numeric is not None}
        for score in rb.scores:
            old, new = before.get(score.name), score.numeric
            if old is not None and new is not None and new < old:
                out.append(
                    RegressedRecord(
                        record_id=rb.record_id, metric=score.name, baseline=old, candidate=new
                    )
                )
    return out


def compare_runs(
    baseline: EvalRun,
    baseline_results: Sequence[EvalResult],
    candidate: EvalRun,
    candidate_results: Sequence[EvalResult],
    *,
    resamples: int = DEFAULT_RESAMPLES,
) -> Comparison:
    """Compare ``candidate`` against ``baseline`` on the records they share."""
    pairs = pair(baseline_results, candidate_results)
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    metrics = _score_deltas(a, b, resamples)
    metrics.update(_run_level_deltas(candidate.scorers, a, b, resamples))
    return Comparison(
        baseline_run=baseline.id,
        candidate_run=candidate.id,
        n_paired=len(pairs),
        metrics=metrics,
        slices=_slices(a, b),
        regressed=_regressed(a, b),
    )


def compare_stored(
    repo: EvaluationRepository,
    project_id: str,
    baseline_id: str,
    candidate_id: str,
    *,
    resamples: int = DEFAULT_RESAMPLES,
) -> Comparison:
    """Compare two stored runs of ``project_id``."""
    baseline, candidate = repo.get(project_id, baseline_id), repo.get(project_id, candidate_id)
    for run in (baseline, candidate):
        if run.status != "finished":
            raise ValidationError(f"run {run.id!r} is {run.status}; only finished runs compare")
    return compare_runs(
        baseline,
        repo.results(project_id, baseline_id),
        candidate,
        repo.results(project_id, candidate_id),
        resamples=resamples,
    )
