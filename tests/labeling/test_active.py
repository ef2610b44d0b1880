from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from llmloop.errors import ValidationError
from llmloop.labeling import (
    STRATEGIES,
    disagreement,
    entropy,
    k_center_greedy,
    least_confidence,
    margin,
    select_batch,
)

PROBS = np.array([[1.0, 0.0], [0.5, 0.5], [0.8, 0.2]])


def test_uncertainty_scores() -> None:
    assert entropy(PROBS) == pytest.approx(
        [0.0, math.log(2), -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))]
    )
    assert margin(PROBS) == pytest.approx([0.0, 1.0, 0.4])
    assert least_confidence(PROBS) == pytest.approx([0.0, 0.5, 0.2])


def test_disagreement_is_vote_entropy() -> None:
    L = [[0, 1, -1], [0, 0, 0], [1, -1, -1], [-1, -1, -1]]
    assert disagreement(L, 2) == pytest.approx([math.log(2), 0.0, 0.0, 0.0])


def test_k_center_spreads_picks_across_clusters() -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10], [10, 10]])
    points = np.vstack([c + rng.normal(0, 0.1, (25, 2)) for c in centers])
    picks = k_center_greedy(points, 4, seed=1)
    assert sorted(p // 25 for p in picks) == [0, 1, 2, 3]
    # with cluster 0 and 1 already labeled, the next two come from clusters 2 and 3
    more = k_center_greedy(points, 2, labeled=[0, 25])
    assert sorted(p // 25 for p in more) == [2, 3]


def test_select_batch_strategies() -> None:
    rng = np.random.default_rng(1)
    n = 40
    probs = np.column_stack([np.linspace(0.5, 1.0, n), 1 - np.linspace(0.5, 1.0, n)])
    # the 10 most uncertain records are near-duplicates; the next ones sit far apart
    embeddings = np.vstack([rng.normal(0, 0.01, (10, 2)), rng.normal(0, 5, (30, 2))])
    by_entropy = select_batch(3, strategy="entropy", probs=probs)
    assert by_entropy == [0, 1, 2]
    assert select_batch(3, strategy="margin", probs=probs, labeled=[0]) == [1, 2, 3]
    assert select_batch(2, strategy="least_confidence", probs=probs) == [0, 1]
    hybrid = select_batch(3, strategy="hybrid", probs=probs, embeddings=embeddings, pool=5)
    assert len(set(hybrid)) == 3 and all(i < 15 for i in hybrid)
    assert sum(i < 10 for i in hybrid) <= 1  # at most one of the near-duplicates
    L = np.full((n, 3), -1)
    L[7] = [0, 1, 1]
    assert select_batch(1, strategy="disagreement", label_matrix=L, cardinality=2) == [7]
    first = select_batch(5, strategy="random", probs=probs, labeled=range(30), seed=3)
    assert first == select_batch(5, strategy="random", probs=probs, labeled=range(30), seed=3)
    assert all(i >= 30 for i in first) and len(set(first)) == 5
    assert len(select_batch(50, strategy="k_center", embeddings=embeddings)) == n


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "coin", "probs": PROBS}, "unknown strategy 'coin'"),
        ({"strategy": "entropy"}, "same records"),
        ({"strategy": "k_center", "probs": PROBS}, "needs embeddings"),
        ({"strategy": "hybrid", "embeddings": np.zeros((3, 2))}, "needs probs"),
        ({"strategy": "disagreement", "label_matrix": [[0], [1], [0]]}, "needs the cardinality"),
        ({"strategy": "entropy", "probs": PROBS, "embeddings": np.zeros((4, 2))}, "same records"),
        ({"strategy": "entropy", "probs": [[0.5, 0.6]]}, "sum to 1.1"),
        ({"strategy": "entropy", "probs": PROBS, "labeled": [3]}, "within 0..2"),
    ],
)
def test_bad_requests_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        select_batch(1, **kwargs)


def test_size_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="size must be a positive integer"):
        select_batch(0, strategy="entropy", probs=PROBS)
    assert set(STRATEGIES) >= {"entropy", "margin", "least_confidence", "k_center", "hybrid"}


probabilities = hnp.arrays(
    np.float64, st.tuples(st.integers(1, 20), st.integers(2, 5)), elements=st.floats(0.01, 1.0)
).map(lambda a: a / a.sum(axis=1, keepdims=True))


@settings(max_examples=50, deadline=None)
@given(probs=probabilities)
def test_scores_stay_in_their_ranges(probs: np.ndarray) -> None:
    k = probs.shape[1]
    assert np.all(entropy(probs) >= -1e-12) and np.all(entropy(probs) <= math.log(k) + 1e-9)
    assert np.all((margin(probs) >= -1e-12) & (margin(probs) <= 1 + 1e-12))
    assert np.all(least_confidence(probs) <= 1 - 1 / k + 1e-9)
    picks = select_batch(3, strategy="entropy", probs=probs)
    best = entropy(probs)[picks[0]]
    assert best == pytest.approx(entropy(probs).max())
