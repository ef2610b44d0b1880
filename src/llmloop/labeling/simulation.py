"""Replay a labeled dataset to compare active-learning strategies.

:func:`simulate` hides the labels of a training pool, starts from a small random seed
set, and in each round asks a strategy (:func:`~llmloop.labeling.active.select_batch`)
which records to "label" next; a fresh model is trained on what has been labeled and
scored on a held-out test split. ``disagreement`` needs labeling sources: here they are a
committee of models trained on bootstrap resamples of the labeled records
(:func:`committee_votes`), i.e. query by committee. The result is one
:class:`LearningCurve` (accuracy against number of labels) per strategy, next to random
sampling, and :func:`labels_to_reach` says how many labels each needed for a target
accuracy (:func:`full_data_accuracy` gives the ceiling: a model trained on the whole pool).
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


def committee_votes(
    make_model: Callable[[], Classifier],
    X_labeled: Any,
    y_labeled: npt.NDArray[Any],
    X_pool: Any,
    classes: npt.NDArray[Any],
    *,
    members: int,
    seed: int,
) -> npt.NDArray[np.int64]:
    """A label matrix of a committee: ``members`` models, each trained on a bootstrap
    resample of the labeled records, vote a class index on every pool record (``-1``
    when a resample held a single class, so that member abstains)."""
    rng = np.random.default_rng(seed)
    index = {c: i for i, c in enumerate(classes)}
    votes = np.full((X_pool.shape[0], members), -1, dtype=np.int64)
    for member in range(members):
        sample = rng.integers(0, len(y_labeled), len(y_labeled))
        if len(np.unique(y_labeled[sample])) < 2:
            continue
        model = make_model()
        model.fit(X_labeled[sample], y_labeled[sample])
        own = np.asarray(model.classes_)
        predicted = own[np.asarray(model.predict_proba(X_pool)).argmax(axis=1)]
        votes[:, member] = [index[p] for p in predicted]
    return votes


@dataclass(frozen=True)
class _Setup:
    split: tuple[Any, npt.NDArray[Any], Any, npt.NDArray[Any]]
    embeddings: npt.NDArray[np.float64] | None
    classes: npt.NDArray[Any]
    batch: int
    rounds: int
    committee: int
    make_model: Callable[[], Classifier]


def _curve(strategy: Strategy, setup: _Setup, seed_set: list[int]) -> LearningCurve:
    X_pool, y_pool, X_test, y_test = setup.split
    labeled = list(seed_set)
    curve = LearningCurve(strategy)
    embeddings = None
    if strategy in ("k_center", "hybrid"):
        embeddings = setup.embeddings if setup.embeddings is not None else _embeddings(X_pool)
    for step in range(setup.rounds + 1):
        model = setup.make_model()
        model.fit(X_pool[labeled], y_pool[labeled])
        curve.labels.append(len(labeled))
        curve.accuracy.append(_accuracy(model, X_test, y_test))
        if step == setup.rounds or len(labeled) >= len(y_pool):
            break
        probs = np.asarray(model.predict_proba(X_pool))  # random and k_center ignore them
        votes = None
        if strategy == "disagreement":
            votes = committee_votes(
                setup.make_model, X_pool[labeled], y_pool[labeled], X_pool, setup.classes,
                members=setup.committee, seed=step,
            )  # fmt: skip
        labeled += select_batch(
            setup.batch,
            strategy=strategy,
            probs=probs,
            label_matrix=votes,
            cardinality=len(setup.classes),
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
    embeddings: npt.ArrayLike | None = None,
    committee: int = 5,
    seed: int = 0,
) -> dict[str, LearningCurve]:
    """Learning curves per strategy, plus ``random``, from one shared seed set.

    ``embeddings`` (dense, one row per record) feed ``k_center`` and ``hybrid``; without
    them the features are used. ``disagreement`` is the vote entropy of a committee of
    ``committee`` models trained on bootstrap resamples of the labeled records."""
    X, y = _check(features, labels)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValidationError(f"unknown strategies {unknown}; expected some of {list(STRATEGIES)}")
    if not 0.0 < test_fraction < 1.0 or initial < 2 or batch < 1 or rounds < 1:
        raise ValidationError("need 0 < test_fraction < 1, initial >= 2, batch >= 1, rounds >= 1")
    if committee < 2:
        raise ValidationError(f"committee must have at least 2 members, got {committee}")
    dense = None
    if embeddings is not None:
        dense = np.asarray(embeddings, dtype=np.float64)
        if dense.ndim != 2 or dense.shape[0] != len(y):
            raise ValidationError(
                f"give one embedding row per record: {len(y)} expected, got shape {dense.shape}"
            )
    rng = np.random.default_rng(seed)
    pool, test = _holdout(len(y), test_fraction, rng)
    setup = _Setup(
        split=(X[pool], y[pool], X[test], y[test]),
        embeddings=None if dense is None else dense[pool],
        classes=np.unique(y),
        batch=batch,
        rounds=rounds,
        committee=committee,
        make_model=make_model,
    )
    seed_set = _seed_set(y[pool], initial, rng)
    curves: dict[str, LearningCurve] = {}
    names: list[Strategy] = ["random", *[s for s in strategies if s != "random"]]
    for strategy in names:
        curves[strategy] = _curve(strategy, setup, seed_set)
    return curves


def _holdout(
    n: int, test_fraction: float, rng: np.random.Generator
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    order = rng.permutation(n)
    cut = int(n * (1 - test_fraction))
    return order[:cut], order[cut:]


def full_data_accuracy(
    features: npt.ArrayLike,
    labels: Sequence[Any],
    *,
    test_fraction: float = 0.3,
    make_model: Callable[[], Classifier] = default_model,
    seed: int = 0,
) -> float:
    """Test accuracy of a model trained on the whole pool, on the very split that
    :func:`simulate` draws with the same ``seed``: the ceiling its curves approach."""
    X, y = _check(features, labels)
    if not 0.0 < test_fraction < 1.0:
        raise ValidationError("need 0 < test_fraction < 1")
    pool, test = _holdout(len(y), test_fraction, np.random.default_rng(seed))
    model = make_model()
    model.fit(X[pool], y[pool])
    return _accuracy(model, X[test], y[test])


def _seed_set(y_pool: npt.NDArray[Any], initial: int, rng: np.random.Generator) -> list[int]:
    """A random seed set that holds at least two classes (so a model can be trained)."""
    for _ in range(100):
        chosen = rng.choice(len(y_pool), size=min(initial, len(y_pool)), replace=False)
        if len(np.unique(y_pool[chosen])) >= 2:
            return [int(i) for i in chosen]
    raise ValidationError(f"no random seed set of {initial} records holds two classes")


__all__ = [
    "Classifier",
    "LearningCurve",
    "committee_votes",
    "default_model",
    "full_data_accuracy",
    "labels_to_reach",
    "simulate",
]
