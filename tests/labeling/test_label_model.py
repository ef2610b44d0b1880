from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from llmloop.errors import ValidationError
from llmloop.labeling import LabelModel, majority_vote, majority_vote_proba


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float((pred == y).mean())


def test_learns_known_source_accuracies_without_gold(make_matrix: Callable[..., Any]) -> None:
    data = make_matrix(40_000, [0.95, 0.9, 0.8, 0.7, 0.6], [0.5, 0.3, 0.6, 0.4, 0.5], seed=1)
    model = LabelModel(2).fit(data.L)
    assert np.abs(model.accuracies - data.accuracies).max() < 0.03
    assert np.abs(model.coverages - data.coverages).max() < 0.02
    assert model.fit_info is not None and model.fit_info.converged


def test_learns_class_balance(make_matrix: Callable[..., Any]) -> None:
    data = make_matrix(30_000, [0.9, 0.85, 0.8, 0.75], [0.6] * 4, balance=[0.8, 0.2])
    model = LabelModel(2, class_balance="learn").fit(data.L)
    assert model.class_balance == pytest.approx([0.8, 0.2], abs=0.02)
    # the default takes the majority vote's shares: noisy votes pull it towards uniform
    default = LabelModel(2).fit(data.L).class_balance
    assert 0.65 < default[0] < 0.8


def test_classes_are_not_swapped_when_sources_are_unipolar() -> None:
    """Without bipolar sources EM's classes are defined up to a permutation only."""
    rng = np.random.default_rng(7)
    y = rng.choice(3, size=6_000, p=[0.5, 0.3, 0.2])
    columns = []
    for label in (0, 0, 1, 1, 2, 2):
        rate = np.where(y == label, 0.6, 0.08)
        columns.append(np.where(rng.random(len(y)) < rate, label, -1))
    L = np.stack(columns, axis=1)
    covered = (L != -1).any(axis=1)
    fired = L != -1
    truth = np.array([(L[fired[:, j], j] == y[fired[:, j]]).mean() for j in range(6)])
    vote_acc = accuracy(majority_vote(L, 3)[covered], y[covered])
    for balance in ("votes", "learn"):
        model = LabelModel(3, class_balance=balance).fit(L)
        assert accuracy(model.predict(L, tie_break="random")[covered], y[covered]) > vote_acc
    learned = LabelModel(3, class_balance="learn").fit(L)
    assert np.abs(learned.accuracies - truth).max() < 0.05
    assert learned.class_balance == pytest.approx([0.5, 0.3, 0.2], abs=0.03)


def test_beats_majority_vote_when_sources_differ_in_quality(
    make_matrix: Callable[..., Any],
) -> None:
    # two excellent sources outvoted by three poor ones where they disagree
    data = make_matrix(20_000, [0.97, 0.95, 0.6, 0.6, 0.6], [0.7, 0.7, 0.9, 0.9, 0.9], seed=2)
    covered = (data.L != -1).any(axis=1)
    model_acc = accuracy(LabelModel(2).fit(data.L).predict(data.L)[covered], data.y[covered])
    vote_acc = accuracy(majority_vote(data.L, 2, seed=0)[covered], data.y[covered])
    assert model_acc > vote_acc + 0.03


def test_multiclass_accuracies_and_predictions(make_matrix: Callable[..., Any]) -> None:
    data = make_matrix(
        30_000,
        [0.9, 0.8, 0.7, 0.65, 0.55],
        [0.6, 0.5, 0.7, 0.5, 0.8],
        balance=[0.5, 0.3, 0.2],
        seed=3,
    )
    model = LabelModel(3, class_balance="learn").fit(data.L)
    assert np.abs(model.accuracies - data.accuracies).max() < 0.03
    assert model.class_balance == pytest.approx([0.5, 0.3, 0.2], abs=0.02)
    covered = (data.L != -1).any(axis=1)
    pred = model.predict(data.L, tie_break="random")
    vote = majority_vote(data.L, 3)
    assert accuracy(pred[covered], data.y[covered]) > accuracy(vote[covered], data.y[covered])


def test_unipolar_sources_are_informative() -> None:
    """Keyword-style sources that only ever vote one class (like spam filters)."""
    rng = np.random.default_rng(4)
    n = 20_000
    y = (rng.random(n) < 0.3).astype(int)
    fire_rates = [(0.5, 0.05, 1), (0.4, 0.1, 1), (0.05, 0.6, 0), (0.1, 0.5, 0)]
    columns = []
    for when_one, when_zero, label in fire_rates:
        fired = rng.random(n) < np.where(y == 1, when_one, when_zero)
        columns.append(np.where(fired, label, -1))
    L = np.stack(columns, axis=1)
    covered = (L != -1).any(axis=1)
    pred = LabelModel(2).fit(L).predict(L, tie_break="random")
    assert accuracy(pred[covered], y[covered]) > accuracy(majority_vote(L, 2)[covered], y[covered])


def test_fixed_class_balance_is_kept(make_matrix: Callable[..., Any]) -> None:
    data = make_matrix(2_000, [0.9, 0.8], [0.5, 0.5])
    model = LabelModel(2, class_balance=[3, 1]).fit(data.L)
    assert model.class_balance == pytest.approx([0.75, 0.25])


def test_majority_vote_ties_and_abstains() -> None:
    L = np.array([[0, 1, -1], [1, 1, 0], [-1, -1, -1], [2, 2, 1]])
    assert majority_vote(L, 3, tie_break="abstain").tolist() == [-1, 1, -1, 2]
    assert majority_vote(L, 3, tie_break="first").tolist() == [0, 1, -1, 2]
    assert majority_vote(L, 3, tie_break="random", seed=1)[0] in (0, 1)
    probs = majority_vote_proba(L, 3)
    assert probs[1] == pytest.approx([1 / 3, 2 / 3, 0])
    assert probs[2] == pytest.approx([1 / 3] * 3)


@pytest.mark.parametrize(
    ("L", "k", "message"),
    [
        ([0, 1, 1], 2, "must be 2-D"),
        (np.zeros((0, 3), dtype=int), 2, "is empty"),
        ([[0, 2]], 2, r"value 2 at row 0, column 1 is not a class index in 0\.\.1"),
        ([[0, -2]], 2, "value -2 at row 0, column 1"),
        ([[0.5, 1]], 2, "must hold integers"),
        ([["a", "b"]], 2, "must hold integers"),
        ([[0, 1]], 1, "cardinality must be an integer >= 2"),
        ([[0, 1]], 1001, "at most 1000 classes"),
    ],
)
def test_bad_label_matrices_are_refused(L: object, k: int, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LabelModel(k).fit(L)  # type: ignore[arg-type]


def test_bad_settings_and_use_before_fit() -> None:
    with pytest.raises(ValidationError, match="class_balance must be 2 positive numbers"):
        LabelModel(2, class_balance=[1, 0])
    with pytest.raises(ValidationError, match="class_balance must be 'votes', 'learn'"):
        LabelModel(2, class_balance="guess")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="max_iter"):
        LabelModel(2, max_iter=0)
    with pytest.raises(ValidationError, match="not fitted yet"):
        LabelModel(2).predict_proba([[0, 1]])
    model = LabelModel(2).fit([[0, 1], [1, 1]])
    with pytest.raises(ValidationError, match="has 3 sources; the model was fitted on 2"):
        model.predict([[0, 1, 1]])
    with pytest.raises(ValidationError, match="tie_break"):
        model.predict([[0, 1]], tie_break="coin")  # type: ignore[arg-type]


matrices = hnp.arrays(
    np.int64,
    st.tuples(st.integers(1, 40), st.integers(1, 6)),
    elements=st.integers(-1, 2),
)


@settings(max_examples=60, deadline=None)
@given(L=matrices)
def test_probabilities_are_distributions(L: np.ndarray) -> None:
    probs = LabelModel(3).fit(L).predict_proba(L)
    assert probs.shape == (L.shape[0], 3)
    assert np.all(probs >= 0)
    assert probs.sum(axis=1) == pytest.approx(np.ones(L.shape[0]))


@settings(max_examples=60, deadline=None)
@given(L=matrices, seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(L: np.ndarray, seed: int) -> None:
    order = np.random.default_rng(seed).permutation(L.shape[0])
    first = LabelModel(3).fit(L)
    second = LabelModel(3).fit(L[order])
    assert second.accuracies == pytest.approx(first.accuracies, abs=1e-6)
    assert second.predict_proba(L[order]) == pytest.approx(first.predict_proba(L)[order], abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(L=matrices)
def test_abstain_only_rows_get_the_class_prior(L: np.ndarray) -> None:
    L = np.vstack([L, np.full((1, L.shape[1]), -1)])
    model = LabelModel(3).fit(L)
    assert model.predict_proba(L)[-1] == pytest.approx(model.class_balance)


@pytest.mark.parametrize(
    ("L", "seeds"),
    [
        # hypothesis finds: EM saddle points and classes nobody voted for
        ([[0, 0], [0, -1], [-1, -1], [1, 2]] + [[-1, -1]] * 5, range(20)),
        ([[0, 0]] + [[-1, -1]] * 4, range(20)),
    ],
)
def test_fit_is_identical_for_any_row_order(L: list[list[int]], seeds: range) -> None:
    array = np.array(L)
    first = LabelModel(3).fit(array)
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(len(array))
        second = LabelModel(3).fit(array[order])
        assert np.array_equal(second.vote_probabilities, first.vote_probabilities)
        assert np.array_equal(second.class_balance, first.class_balance)


@pytest.mark.parametrize("balance", ["votes", "learn"])
def test_row_order_does_not_matter_on_a_large_matrix(
    make_matrix: Callable[..., Any], balance: str
) -> None:
    """Enough distinct vote patterns for the warm start on a sample."""
    data = make_matrix(150_000, [0.9, 0.8, 0.7, 0.65, 0.6, 0.55] * 3, [0.5] * 18, seed=6)
    order = np.random.default_rng(0).permutation(len(data.L))
    first = LabelModel(2, class_balance=balance).fit(data.L)  # type: ignore[arg-type]
    second = LabelModel(2, class_balance=balance).fit(data.L[order])  # type: ignore[arg-type]
    assert first.fit_info is not None and first.fit_info.warm_start_rows > 0
    assert np.array_equal(second.vote_probabilities, first.vote_probabilities)
    assert np.array_equal(second.class_balance, first.class_balance)
    assert np.array_equal(second.predict_proba(data.L), first.predict_proba(data.L))


def test_duplicated_rows_weigh_like_their_count(make_matrix: Callable[..., Any]) -> None:
    """The fit is over the records: doubling every row changes nothing but the counts."""
    data = make_matrix(3_000, [0.9, 0.8, 0.7], [0.6, 0.5, 0.7], seed=8)
    once = LabelModel(2).fit(data.L)
    twice = LabelModel(2, smoothing=2.0).fit(np.vstack([data.L, data.L]))
    assert twice.vote_probabilities == pytest.approx(once.vote_probabilities, abs=1e-4)
    assert twice.class_balance == pytest.approx(once.class_balance, abs=1e-5)  # +1 per class


def test_many_sources_fit_and_do_not_depend_on_row_order() -> None:
    """More sources than one int64 pattern key holds (3 ** 45 > 2 ** 62)."""
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 4_000)
    fired = rng.random((4_000, 45)) < 0.3
    votes = np.where(rng.random((4_000, 45)) < 0.8, y[:, None], 1 - y[:, None])
    L = np.where(fired, votes, -1)
    first = LabelModel(2).fit(L)
    second = LabelModel(2).fit(L[::-1])
    assert np.array_equal(second.vote_probabilities, first.vote_probabilities)
    assert np.abs(first.accuracies - 0.8).max() < 0.06
