"""Statistics for runs: bootstrap intervals, paired bootstrap and McNemar comparisons.

Every function is deterministic for a given ``seed``. Bootstrap intervals use the
percentile method; p-values of the paired bootstrap are two-sided (twice the smaller tail
of the resampled deltas around zero, capped at 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
BLOCK_CELLS = 2_000_000  # resampled indices held at once by bootstrap_means (16 MB)

Statistic = Callable[[np.ndarray], float]  # of the row indices of one resample


@dataclass(frozen=True, slots=True)
class Interval:
    value: float
    low: float
    high: float
    n: int


@dataclass(frozen=True, slots=True)
class PairedDelta:
    """Candidate minus baseline, with a bootstrap interval and a two-sided p-value."""

    baseline: float
    candidate: float
    delta: float
    low: float
    high: float
    p_value: float
    n: int
    test: str = "paired_bootstrap"


def _check(confidence: float, resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")


def _indices(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _bounds(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_mean(
    values: Sequence[float] | np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """The mean of ``values`` with a percentile bootstrap interval (NaN when empty)."""
    _check(confidence, resamples)
    data = np.asarray(values, dtype=np.float64)
    if len(data) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    return _mean_interval(data, _indices(len(data), resamples, seed), confidence)


def _mean_interval(data: np.ndarray, indices: np.ndarray, confidence: float) -> Interval:
    means = data[indices].mean(axis=1)
    low, high = _bounds(means, confidence)
    value = float(data.mean())
    return Interval(value, min(low, value), max(high, value), len(data))


def bootstrap_means(
    columns: dict[str, np.ndarray],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict[str, Interval]:
    """:func:`bootstrap_mean` of each column (NaNs left out), equal to calling it on each
    column; columns of the same length share the resampled indices, drawn in blocks of at
    most ``BLOCK_CELLS`` so memory stays bounded however long the columns are."""
    _check(confidence, resamples)
    by_length: dict[int, dict[str, np.ndarray]] = {}
    out: dict[str, Interval] = {}
    for name, column in columns.items():
        data = column[~np.isnan(column)]
        if len(data) == 0:
            out[name] = Interval(float("nan"), float("nan"), float("nan"), 0)
        else:
            by_length.setdefault(len(data), {})[name] = data
    for n, group in by_length.items():
        rng = np.random.default_rng(seed)
        means = {name: np.empty(resamples) for name in group}
        block = max(1, BLOCK_CELLS // n)
        for start in range(0, resamples, block):
            rows = min(block, resamples - start)
            indices = rng.integers(0, n, size=(rows, n))
            for name, data in group.items():
                means[name][start : start + rows] = data[indices].mean(axis=1)
        for name, data in group.items():
            low, high = _bounds(means[name], confidence)
            value = float(data.mean())
            out[name] = Interval(value, min(low, value), max(high, value), n)
    return {name: out[name] for name in columns}


def bootstrap_statistic(
    statistic: Statistic,
    n: int,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """Any statistic of ``n`` rows, given as a function of row indices, with an interval."""
    _check(confidence, resamples)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    value = statistic(np.arange(n))
    samples = np.array([statistic(idx) for idx in _indices(n, resamples, seed)])
    low, high = _bounds(samples, confidence)
    return Interval(value, min(low, value), max(high, value), n)


def _two_sided_p(deltas: np.ndarray) -> float:
    below = float(np.mean(deltas <= 0))
    above = float(np.mean(deltas >= 0))
    return min(1.0, 2 * min(below, above))


def paired_bootstrap(
    baseline: Sequence[float] | np.ndarray,
    candidate: Sequence[float] | np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> PairedDelta:
    """Paired comparison of per-record values of two runs on the same records."""
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {len(a)} and {len(b)}")
    return paired_bootstrap_statistic(
        lambda idx: float(a[idx].mean()),
        lambda idx: float(b[idx].mean()),
        len(a),
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )


def paired_bootstrap_statistic(
    baseline: Statistic,
    candidate: Statistic,
    n: int,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> PairedDelta:
    """Paired comparison of any statistic (functions of the shared row indices)."""
    _check(confidence, resamples)
    if n == 0:
        nan = float("nan")
        return PairedDelta(nan, nan, nan, nan, nan, 1.0, 0)
    full = np.arange(n)
    base, cand = baseline(full), candidate(full)
    deltas = np.array([candidate(idx) - baseline(idx) for idx in _indices(n, resamples, seed)])
    delta = cand - base
    if np.allclose(deltas, deltas[0]) and np.isclose(deltas[0], 0):
        return PairedDelta(base, cand, delta, 0.0, 0.0, 1.0, n)
    low, high = _bounds(deltas, confidence)
    return PairedDelta(base, cand, delta, low, high, _two_sided_p(deltas), n)


@dataclass(frozen=True, slots=True)
class McNemar:
    """Exact McNemar test on paired binary outcomes.

    ``fixed``: baseline wrong, candidate right; ``broken``: baseline right, candidate wrong.
    """

    fixed: int
    broken: int
    p_value: float
    n: int
    test: str = "mcnemar_exact"


def mcnemar(baseline: Sequence[bool], candidate: Sequence[bool]) -> McNemar:
    """Two-sided exact McNemar test (binomial on the discordant pairs)."""
    a = np.asarray(baseline, dtype=bool)
    b = np.asarray(candidate, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {len(a)} and {len(b)}")
    fixed = int(np.sum(~a & b))
    broken = int(np.sum(a & ~b))
    discordant = fixed + broken
    p = 1.0 if discordant == 0 else float(stats.binomtest(fixed, discordant, 0.5).pvalue)
    return McNemar(fixed, broken, min(1.0, p), len(a))
