from __future__ import annotations

import numpy as np
import pytest

from llmloop.errors import ValidationError
from llmloop.labeling import LearningCurve, labels_to_reach, simulate


def blobs(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes split by a line, with most points far from it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n, 5))
    X[:, 0] = rng.laplace(0, 3, n)
    y = np.where(X[:, 0] + 0.3 * X[:, 1] > 0, "pos", "neg")
    return X, y


def test_curves_for_each_strategy_and_random() -> None:
    X, y = blobs()
    curves = simulate(
        X, y, strategies=("entropy", "k_center", "hybrid"), initial=10, batch=10, rounds=8
    )
    assert list(curves) == ["random", "entropy", "k_center", "hybrid"]
    for curve in curves.values():
        assert curve.labels == [10 + 10 * i for i in range(9)]
        assert all(0.0 <= a <= 1.0 for a in curve.accuracy)
    # the same seed set: every strategy starts from the same model
    assert len({c.accuracy[0] for c in curves.values()}) == 1
    # uncertainty sampling finds the boundary sooner than random sampling
    final = curves["random"].accuracy[-1]
    needed_entropy = labels_to_reach(curves["entropy"], final)
    assert needed_entropy is not None and needed_entropy < curves["random"].labels[-1]


def test_labels_to_reach() -> None:
    curve = LearningCurve("x", [10, 20, 30], [0.5, 0.8, 0.9])
    assert labels_to_reach(curve, 0.8) == 20
    assert labels_to_reach(curve, 0.95) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": np.zeros((5, 2)), "labels": ["a", "b"] * 2 + ["a"]}, ">= 10"),
        ({"features": np.zeros((20, 2)), "labels": ["a"] * 20}, "single class"),
        ({"strategies": ("coin",)}, "unknown strategies"),
        ({"test_fraction": 1.0}, "test_fraction"),
    ],
)
def test_bad_simulations_are_refused(kwargs: dict, message: str) -> None:
    X, y = blobs(100)
    arguments = {"features": X, "labels": y, **kwargs}
    with pytest.raises(ValidationError, match=message):
        simulate(arguments.pop("features"), arguments.pop("labels"), **arguments)
