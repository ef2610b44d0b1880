"""Replay a labeled dataset to compare active-learning strategies.

:func:`simulate` hides the labels of a training pool, starts from a small random seed
set, and in each round asks a strategy (:func:`~llmloop.labeling.active.select_batch`)
which records to "label" next; a fresh model is trained on what has been labeled and
scored on a held-out test split. The result is one :class:`LearningCurve` (accuracy
against number of labels) per strategy, next to random sampling, and
:func:`labels_to_reach` says how many labels each needed for a target accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

from llmloop.errors import ValidationError
from llmloop.labeling.active import STRATEGIES, Strategy, select_batch


class Classifier(Protocol):
    """What :func:`simulate` needs of a model (scikit-learn's classifiers have it)."""

    classes_: Any

    def fit(self, X: Any, y: Any) -> Any: ...

    def predict_proba(self, X: Any) -> Any: ...


def default_model() -> Classifier:
    """A multinomial logistic regression: quick to refit every round."""
    return LogisticRegression(max_iter=1000)


@dataclass(frozen=True)
class LearningCurve:
    """Test accuracy after each round: ``labels[i]`` labels gave ``accuracy[i]``."""

    strategy: str
    labels: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def labels_to_reach(curve: LearningCurve, target: float) -> int | None:
    """The fewest labels at which ``curve`` reached ``target`` accuracy (None: never)."""
    for count, accuracy in zip(curve.labels, curve.accuracy, strict=True):
        if accuracy >= target:
            return count
    return None


def _check(features: npt.ArrayLike, labels: Sequence[Any]) -> tuple[Any, npt.NDArray[Any]]:
    X = features if hasattr(features, "shape") else np.asarray(features)
    y = np.asarray(labels)
    if X.shape[0] != len(y) or len(y) < 10:
        raise ValidationError(
            f"give features and labels for the same records (>= 10), got {X.shape[0]} and {len(y)}"
        )
    if len(np.unique(y)) < 2:
        raise ValidationError("the labels hold a single class: nothing to learn")
    return X, y


def _accuracy(model: Classifier, X: Any, y: npt.NDArray[Any]) -> float:
    classes = np.asarray(model.classes_)
    predicted = classes[np.asarray(model.predict_proba(X)).argmax(axis=1)]
    return float((predicted == y).mean())


def _embeddings(X: Any) -> npt.NDArray[np.float64]:
    dense = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=np.float64)
    return np.asarray(dense, dtype=np.float64)


def _curve(
    strategy: Strategy,
    split: tuple[Any, npt.NDArray[Any], Any, npt.NDArray[Any]],
    seed_set: list[int],
    *,
    batch: int,
    rounds: int,
    make_model: Callable[[], Classifier],
) -> LearningCurve:
    X_pool, y_pool, X_test, y_test = split
    labeled = list(seed_set)
    curve = LearningCurve(strategy)
    embeddings = _embeddings(X_pool) if strategy in ("k_center", "hybrid") else None
    for step in range(rounds + 1):
        model = make_model()
        model.fit(X_pool[labeled], y_pool[labeled])
        curve.labels.append(len(labeled))
        curve.accuracy.append(_accuracy(model, X_test, y_test))
        if step == rounds or len(labeled) >= len(y_pool):
            break
        probs = np.asarray(model.predict_proba(X_pool))  # random and k_center ignore them
        labeled += select_batch(
            batch,
            strategy=strategy,
            probs=probs,
            embeddings=embeddings,
            labeled=labeled,
            seed=step,
        )
    return curve


def simulate(
    features: npt.ArrayLike,
    labels: Sequence[Any],
    *,
    strategies: Sequence[Strategy] = ("entropy", "margin", "least_confidence", "hybrid"),
    initial: int = 20,
    batch: int = 20,
    rounds: int = 20,
    test_fraction: float = 0.3,
    make_model: Callable[[], Classifier] = default_model,
    seed: int = 0,
) -> dict[str, LearningCurve]:
    """Learning curves per strategy, plus ``random``, from one shared seed set."""
    X, y = _check(features, labels)
    unknown = [s for s in strategies if s not in STRATEGIES or s == "disagreement"]
    if unknown:
        raise ValidationError(f"strategies {unknown} cannot be simulated from features alone")
    if not 0.0 < test_fraction < 1.0 or initial < 2 or batch < 1 or rounds < 1:
        raise ValidationError("need 0 < test_fraction < 1, initial >= 2, batch >= 1, rounds >= 1")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    cut = int(len(y) * (1 - test_fraction))
    pool, test = order[:cut], order[cut:]
    split = (X[pool], y[pool], X[test], y[test])
    seed_set = _seed_set(y[pool], initial, rng)
    curves: dict[str, LearningCurve] = {}
    names: list[Strategy] = ["random", *[s for s in strategies if s != "random"]]
    for strategy in names:
        curves[strategy] = _curve(
            strategy, split, seed_set, batch=batch, rounds=rounds, make_model=make_model
        )
    return curves


def _seed_set(y_pool: npt.NDArray[Any], initial: int, rng: np.random.Generator) -> list[int]:
    """A random seed set that holds at least two classes (so a model can be trained)."""
    for _ in range(100):
        chosen = rng.choice(len(y_pool), size=min(initial, len(y_pool)), replace=False)
        if len(np.unique(y_pool[chosen])) >= 2:
            return [int(i) for i in chosen]
    raise ValidationError(f"no random seed set of {initial} records holds two classes")


__all__ = ["Classifier", "LearningCurve", "default_model", "labels_to_reach", "simulate"]
