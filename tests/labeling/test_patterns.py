from __future__ import annotations

import numpy as np
import pytest

from llmloop.labeling.patterns import VoteIndex


@pytest.mark.parametrize(
    ("rows", "sources", "k"), [(1, 1, 2), (500, 3, 2), (3_000, 45, 2), (800, 30, 4)]
)
def test_unique_counts_every_distinct_row(rows: int, sources: int, k: int) -> None:
    rng = np.random.default_rng(rows + sources)
    L = np.where(rng.random((rows, sources)) < 0.5, rng.integers(0, k, (rows, sources)), -1)
    L = np.vstack([L, L[: rows // 2]])  # some duplicates
    unique = VoteIndex(L, k).unique()
    expected, counts = np.unique(L, axis=0, return_counts=True)
    got = unique._votes(unique.codes)
    found = {tuple(row): int(c) for row, c in zip(got, unique.record_counts(), strict=True)}
    assert found == {tuple(row): int(c) for row, c in zip(expected, counts, strict=True)}
    assert unique.records == len(L)
    shuffled = VoteIndex(L[np.random.default_rng(0).permutation(len(L))], k).unique()
    assert all(np.array_equal(a, b) for a, b in zip(shuffled.codes, unique.codes, strict=True))


def test_weighted_sums_count_records() -> None:
    L = np.array([[0, 1], [0, 1], [1, -1], [0, 1]])
    full, unique = VoteIndex(L, 2), VoteIndex(L, 2).unique()
    assert unique.rows == 2
    assert unique.vote_totals() == pytest.approx(full.vote_totals())
    q_full = np.vstack([np.linspace(0.1, 0.4, 4), 1 - np.linspace(0.1, 0.4, 4)])
    q_unique = np.full((2, 2), 0.5)
    assert unique.vote_sums(q_unique, range(2)).sum() == pytest.approx(
        full.vote_sums(q_full, range(2)).sum()
    )


def test_sample_draws_records_from_the_counts() -> None:
    rng = np.random.default_rng(3)
    L = np.where(rng.random((20_000, 8)) < 0.5, rng.integers(0, 2, (20_000, 8)), -1)
    unique = VoteIndex(L, 2).unique()
    sample = unique.sample(5_000, seed=0)
    assert sample.records == 5_000
    assert sample.rows <= min(unique.rows, 5_000)
    again = VoteIndex(L[::-1], 2).unique().sample(5_000, seed=0)
    assert np.array_equal(again.record_counts(), sample.record_counts())
