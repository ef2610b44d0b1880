"""Tests for comparing an arm against the control: proportions, means, intervals, power.

- proportions (error rate, boolean scores): two-proportion z-test with the pooled
  standard error; interval by parametric bootstrap of the two binomials;
- means (latency, cost, numeric scores): Welch's t-test; interval by bootstrap of the
  difference in means (percentile method);
- the sample size per arm for 80% power at the observed effect (normal approximation),
  and how many more requests the smaller arm still needs.

Every function is deterministic for a given ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

RESAMPLES = 1000
POWER = 0.8
_CHUNK = 50


@dataclass(frozen=True, slots=True)
class Significance:
    control: float
    candidate: float
    diff: float  # candidate - control
    low: float
    high: float
    p_value: float
    test: str
    needed_per_arm: int | None  # for POWER at the observed effect; None: no effect seen


def _z(q: float) -> float:
    return float(stats.norm.ppf(q))


def two_proportion(
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> Significance:
    """Control ``x1`` of ``n1`` against candidate ``x2`` of ``n2``."""
    if n1 < 1 or n2 < 1:
        raise ValueError("both arms need at least one observation")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = (1.0 if p1 == p2 else 0.0) if se == 0 else float(2 * stats.norm.sf(abs(p2 - p1) / se))
    rng = np.random.default_rng(seed)
    deltas = rng.binomial(n2, p2, resamples) / n2 - rng.binomial(n1, p1, resamples) / n1
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    return Significance(
        control=p1,
        candidate=p2,
        diff=p2 - p1,
        low=float(low),
        high=float(high),
        p_value=min(1.0, p_value),
        test="two-proportion z-test",
        needed_per_arm=proportion_sample_size(p1, p2, alpha=alpha),
    )


def proportion_sample_size(
    p1: float, p2: float, *, alpha: float = 0.05, power: float = POWER
) -> int | None:
    """Observations per arm to detect ``p1`` vs ``p2`` with a two-sided test."""
    if p1 == p2:
        return None
    pbar = (p1 + p2) / 2
    a, b = _z(1 - alpha / 2), _z(power)
    top = a * math.sqrt(2 * pbar * (1 - pbar)) + b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(top**2 / (p1 - p2) ** 2)


def mean_sample_size(
    var1: float, var2: float, delta: float, *, alpha: float = 0.05, power: float = POWER
) -> int | None:
    """Observations per arm to detect a difference ``delta`` in means (unequal variances)."""
    squared = delta * delta
    if squared == 0 or not math.isfinite(squared):  # no effect (or one too small to square)
        return None
    a, b = _z(1 - alpha / 2), _z(power)
    needed = (a + b) ** 2 * (var1 + var2) / squared
    return max(2, math.ceil(needed)) if math.isfinite(needed) else None


def welch(
    control: np.ndarray,
    candidate: np.ndarray,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> Significance:
    """Welch's t-test on the means, with a bootstrap interval of their difference."""
    a = np.asarray(control, dtype=float)
    b = np.asarray(candidate, dtype=float)
    if a.size < 2 or b.size < 2:
        raise ValueError("both arms need at least two observations")
    m1, m2 = float(a.mean()), float(b.mean())
    v1, v2 = float(a.var(ddof=1)), float(b.var(ddof=1))
    p_value = welch_p_value(m1, v1, a.size, m2, v2, b.size)
    low, high = bootstrap_mean_diff(a, b, alpha=alpha, seed=seed, resamples=resamples)
    return Significance(
        control=m1,
        candidate=m2,
        diff=m2 - m1,
        low=low,
        high=high,
        p_value=p_value,
        test="Welch's t-test",
        needed_per_arm=mean_sample_size(v1, v2, m2 - m1, alpha=alpha),
    )


def welch_p_value(m1: float, v1: float, n1: int, m2: float, v2: float, n2: int) -> float:
    """Two-sided p-value of Welch's t-test from each arm's mean, variance and size."""
    se1, se2 = v1 / n1, v2 / n2
    if se1 + se2 == 0:
        return 1.0 if m1 == m2 else 0.0
    t = (m2 - m1) / math.sqrt(se1 + se2)
    df = (se1 + se2) ** 2 / (se1**2 / (n1 - 1) + se2**2 / (n2 - 1))
    return float(min(1.0, 2 * stats.t.sf(abs(t), df)))


def bootstrap_mean_diff(
    a: np.ndarray,
    b: np.ndarray,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> tuple[float, float]:
    """Percentile interval of mean(b) - mean(a), resampling each arm with replacement."""
    rng = np.random.default_rng(seed)
    deltas = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        k = min(_CHUNK, resamples - start)
        mb = b[rng.integers(0, b.size, size=(k, b.size))].mean(axis=1)
        ma = a[rng.integers(0, a.size, size=(k, a.size))].mean(axis=1)
        deltas[start : start + k] = mb - ma
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
