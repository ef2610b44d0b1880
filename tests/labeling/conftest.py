"""Generated label matrices with known source accuracies, for the labeling tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest


@dataclass(frozen=True)
class Synthetic:
    L: npt.NDArray[np.int64]
    y: npt.NDArray[np.int64]
    accuracies: npt.NDArray[np.float64]
    coverages: npt.NDArray[np.float64]


def synthetic_matrix(
    n: int,
    accuracies: list[float],
    coverages: list[float],
    *,
    balance: list[float] | None = None,
    seed: int = 0,
) -> Synthetic:
    """Conditionally independent sources: each votes with its coverage, correctly with its
    accuracy, otherwise a uniformly drawn wrong class."""
    rng = np.random.default_rng(seed)
    k = len(balance) if balance is not None else 2
    y = rng.choice(k, size=n, p=balance)
    acc = np.asarray(accuracies)
    cov = np.asarray(coverages)
    fired = rng.random((n, len(acc))) < cov
    correct = rng.random((n, len(acc))) < acc
    wrong = (y[:, None] + rng.integers(1, k, size=(n, len(acc)))) % k
    votes = np.where(correct, y[:, None], wrong)
    return Synthetic(np.where(fired, votes, -1), y, acc, cov)


@pytest.fixture
def make_matrix() -> Callable[..., Synthetic]:
    """:func:`synthetic_matrix`, as a fixture."""
    return synthetic_matrix
