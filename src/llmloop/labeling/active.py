"""Active learning: which records to label next.

Scores (higher = more worth labeling):

* :func:`entropy`, :func:`margin`, :func:`least_confidence` — uncertainty of a model's
  class probabilities (``(n, k)``, rows summing to 1);
* :func:`disagreement` — vote entropy of the labeling sources on each record (a label
  matrix with ``-1`` for abstain); records with fewer than two votes score 0.

Batch selection, :func:`select_batch`, picks ``size`` records not yet labeled with one of
:data:`STRATEGIES`: ``random``, the scores above, ``k_center`` (k-center greedy on
embeddings: each pick is the record farthest from everything labeled or picked), and
``hybrid`` (the ``pool`` x ``size`` most uncertain by entropy, then k-center among them,
so a batch is both uncertain and diverse).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import numpy.typing as npt

from llmloop.errors import ValidationError
from llmloop.labeling.label_model import check_label_matrix, vote_counts

FloatArray = npt.NDArray[np.float64]
_CENTER_BLOCK = 512

Strategy = Literal[
    "random", "entropy", "margin", "least_confidence", "disagreement", "k_center", "hybrid"
]
STRATEGIES: tuple[str, ...] = (
    "random",
    "entropy",
    "margin",
    "least_confidence",
    "disagreement",
    "k_center",
    "hybrid",
)


def _check_probs(probs: npt.ArrayLike) -> FloatArray:
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValidationError(
            f"probabilities must be (records x classes >= 2), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValidationError("probabilities must be finite and non-negative")
    sums = array.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        row = int(np.argmax(np.abs(sums - 1.0)))
        raise ValidationError(f"probabilities of record {row} sum to {sums[row]:.6g}, not 1")
    return array


def entropy(probs: npt.ArrayLike) -> FloatArray:
    """Shannon entropy of each row, in nats."""
    array = _check_probs(probs)
    logs = np.log(np.where(array > 0, array, 1.0))
    return np.asarray(-(array * logs).sum(axis=1))


def margin(probs: npt.ArrayLike) -> FloatArray:
    """``1 - (p_top - p_second)``: 1 when the two best classes tie."""
    array = np.sort(_check_probs(probs), axis=1)
    return np.asarray(1.0 - (array[:, -1] - array[:, -2]))


def least_confidence(probs: npt.ArrayLike) -> FloatArray:
    """``1 - p_top``."""
    return np.asarray(1.0 - _check_probs(probs).max(axis=1))


def disagreement(L: npt.ArrayLike, cardinality: int) -> FloatArray:
    """Entropy of the votes cast on each record (0 with fewer than two votes)."""
    votes = vote_counts(check_label_matrix(L, cardinality), cardinality).astype(np.float64)
    totals = votes.sum(axis=1, keepdims=True)
    shares = votes / np.maximum(totals, 1.0)
    logs = np.log(np.where(shares > 0, shares, 1.0))
    scores = -(shares * logs).sum(axis=1)
    scores[totals[:, 0] < 2] = 0.0
    return np.asarray(scores)


def _squared_distances(points: FloatArray, rows: FloatArray, norms: FloatArray) -> FloatArray:
    """Squared Euclidean distances from every point to each of ``rows`` (``(n, len(rows))``)."""
    block = norms[:, None] + (rows * rows).sum(axis=1)[None, :] - 2.0 * (points @ rows.T)
    return np.asarray(np.maximum(block, 0.0))


def k_center_greedy(
    embeddings: npt.ArrayLike,
    size: int,
    *,
    labeled: Iterable[int] = (),
    candidates: npt.NDArray[np.intp] | None = None,
    seed: int = 0,
) -> list[int]:
    """Indices of ``size`` records, each the farthest (Euclidean) from the labeled ones
    and the earlier picks; the first is random when nothing is labeled yet.

    Distances to the labeled records are computed in blocks of matrix products, so a
    pool of tens of thousands with thousands labeled takes well under a second."""
    points = np.asarray(embeddings, dtype=np.float64)
    if points.ndim != 2 or not np.all(np.isfinite(points)):
        raise ValidationError(
            f"embeddings must be a finite (records x dims) array, got shape {points.shape}"
        )
    pool = np.arange(len(points)) if candidates is None else np.asarray(candidates)
    centers = sorted(set(labeled))
    candidates_points = points[pool]
    norms = (candidates_points * candidates_points).sum(axis=1)
    nearest = np.full(len(pool), np.inf)
    for start in range(0, len(centers), _CENTER_BLOCK):
        block = points[centers[start : start + _CENTER_BLOCK]]
        distances = _squared_distances(candidates_points, block, norms).min(axis=1)
        np.minimum(nearest, distances, out=nearest)
    picked: list[int] = []
    available = np.ones(len(pool), dtype=bool)
    available[np.isin(pool, centers)] = False
    rng = np.random.default_rng(seed)
    while len(picked) < size and available.any():
        if np.isinf(nearest[available]).all():
            position = int(rng.choice(np.flatnonzero(available)))
        else:
            position = int(np.argmax(np.where(available, nearest, -1.0)))
        available[position] = False
        picked.append(int(pool[position]))
        distance = _squared_distances(candidates_points, candidates_points[[position]], norms)
        np.minimum(nearest, distance[:, 0], out=nearest)
    return picked


def _top(scores: FloatArray, pool: npt.NDArray[np.intp], size: int) -> list[int]:
    order = np.argsort(-scores[pool], kind="stable")
    return [int(i) for i in pool[order[:size]]]


def _require(value: npt.ArrayLike | None, what: str, strategy: str) -> npt.ArrayLike:
    if value is None:
        raise ValidationError(f"strategy {strategy!r} needs {what}")
    return value


def _candidates(
    arrays: Iterable[npt.ArrayLike | None], labeled: Iterable[int]
) -> tuple[npt.NDArray[np.intp], set[int]]:
    sizes = {len(np.asarray(a)) for a in arrays if a is not None}
    if len(sizes) != 1:
        raise ValidationError(
            f"give probs, label_matrix or embeddings for the same records (got sizes {sizes})"
        )
    n = sizes.pop()
    done = {int(i) for i in labeled}
    if any(i < 0 or i >= n for i in done):
        raise ValidationError(f"labeled indices must be within 0..{n - 1}")
    return np.array([i for i in range(n) if i not in done], dtype=np.intp), done


def select_batch(
    size: int,
    *,
    strategy: Strategy,
    probs: npt.ArrayLike | None = None,
    label_matrix: npt.ArrayLike | None = None,
    cardinality: int | None = None,
    embeddings: npt.ArrayLike | None = None,
    labeled: Iterable[int] = (),
    pool: int = 10,
    seed: int = 0,
) -> list[int]:
    """Indices of up to ``size`` records to label next, never one in ``labeled``.

    ``probs`` feed the uncertainty strategies and ``hybrid``; ``label_matrix`` (with
    ``cardinality``) feeds ``disagreement``; ``embeddings`` feed ``k_center`` and
    ``hybrid``. Fewer than ``size`` come back only when fewer records are left.
    """
    if strategy not in STRATEGIES:
        raise ValidationError(f"unknown strategy {strategy!r}; expected one of {list(STRATEGIES)}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValidationError(f"size must be a positive integer, got {size!r}")
    candidates, done = _candidates((probs, label_matrix, embeddings), labeled)
    if strategy == "random":
        chosen = np.random.default_rng(seed).permutation(candidates)[:size]
        return [int(i) for i in chosen]
    if strategy == "disagreement":
        matrix = _require(label_matrix, "a label_matrix", strategy)
        if cardinality is None:
            raise ValidationError("strategy 'disagreement' needs the cardinality")
        return _top(disagreement(matrix, cardinality), candidates, size)
    if strategy in ("entropy", "margin", "least_confidence"):
        scorer = {"entropy": entropy, "margin": margin, "least_confidence": least_confidence}
        return _top(scorer[strategy](_require(probs, "probs", strategy)), candidates, size)
    points = _require(embeddings, "embeddings", strategy)
    if strategy == "hybrid":
        uncertainty = entropy(_require(probs, "probs", strategy))
        candidates = np.array(_top(uncertainty, candidates, size * max(pool, 1)), dtype=np.intp)
    return k_center_greedy(points, size, labeled=done, candidates=candidates, seed=seed)


__all__ = [
    "STRATEGIES",
    "Strategy",
    "disagreement",
    "entropy",
    "k_center_greedy",
    "least_confidence",
    "margin",
    "select_batch",
]
