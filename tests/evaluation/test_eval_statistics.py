"""Statistics: bootstrap intervals, paired bootstrap and McNemar, as properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmloop.evaluation.statistics import (
    bootstrap_mean,
    bootstrap_means,
    mcnemar,
    paired_bootstrap,
)

floats = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(st.lists(floats, min_size=1, max_size=60), st.integers(0, 2**16))
def test_bootstrap_interval_holds_the_mean_inside_the_data_range(
    values: list[float], seed: int
) -> None:
    ci = bootstrap_mean(values, resamples=200, seed=seed)
    assert ci.n == len(values)
    assert min(values) - 1e-9 <= ci.low <= ci.value <= ci.high <= max(values) + 1e-9
    assert ci.value == pytest.approx(float(np.mean(values)))


def test_bootstrap_interval_narrows_with_more_data() -> None:
    rng = np.random.default_rng(1)
    small = bootstrap_mean(rng.integers(0, 2, 50), seed=1)
    large = bootstrap_mean(rng.integers(0, 2, 5000), seed=1)
    assert (large.high - large.low) < (small.high - small.low) / 5


@settings(max_examples=40, deadline=None)
@given(st.lists(floats, min_size=1, max_size=40))
def test_paired_bootstrap_of_a_run_against_itself_is_null(values: list[float]) -> None:
    result = paired_bootstrap(values, values, resamples=100)
    assert result.delta == 0 and result.p_value == 1.0 and result.low == result.high == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(floats, min_size=2, max_size=40), floats)
def test_paired_bootstrap_of_a_constant_shift_finds_the_shift(
    values: list[float], shift: float
) -> None:
    shifted = [v + shift for v in values]
    result = paired_bootstrap(values, shifted, resamples=100)
    assert result.delta == pytest.approx(shift, abs=1e-6)
    assert result.low == pytest.approx(shift, abs=1e-6) and result.high == pytest.approx(
        shift, abs=1e-6
    )


def test_paired_bootstrap_detects_a_real_improvement() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(0.5, 0.1, 300)
    better = base + rng.normal(0.05, 0.02, 300)
    result = paired_bootstrap(base, better, seed=3)
    assert result.p_value < 0.01 and result.low > 0


@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=80))
def test_mcnemar_is_symmetric_and_counts_discordant_pairs(pairs: list[tuple[bool, bool]]) -> None:
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    forward, backward = mcnemar(a, b), mcnemar(b, a)
    assert forward.fixed == backward.broken and forward.broken == backward.fixed
    assert forward.p_value == pytest.approx(backward.p_value)
    assert 0 <= forward.p_value <= 1
    assert forward.fixed == sum(1 for x, y in pairs if not x and y)


def test_mcnemar_exact_p_value() -> None:
    # 10 fixed, 0 broken: two-sided exact binomial p = 2 * 0.5**10
    result = mcnemar([False] * 10 + [True] * 5, [True] * 15)
    assert (result.fixed, result.broken) == (10, 0)
    assert result.p_value == pytest.approx(2 * 0.5**10)


def test_length_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap([1.0, 2.0], [1.0])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(floats, st.just(float("nan"))), max_size=30), st.integers(0, 99))
def test_bootstrap_means_equals_bootstrap_mean_per_column(values: list[float], seed: int) -> None:
    column = np.asarray(values, dtype=np.float64)
    present = column[~np.isnan(column)]
    together = bootstrap_means({"a": column, "b": column.copy()}, resamples=100, seed=seed)
    alone = bootstrap_mean(present, resamples=100, seed=seed)
    for interval in together.values():
        assert interval.n == alone.n
        if alone.n:
            assert (interval.value, interval.low, interval.high) == pytest.approx(
                (alone.value, alone.low, alone.high)
            )
