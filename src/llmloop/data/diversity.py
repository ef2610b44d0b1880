"""Diversity figures of a set of texts and their embeddings.

* ``distinct_1`` / ``distinct_2`` — distinct word unigrams (bigrams) over all unigrams
  (bigrams): 1 when nothing repeats, near 0 for boilerplate;
* ``mean_pairwise_distance`` — mean cosine distance between two different items (exact up
  to 2,000 items, over a fixed random sample of 2,000 beyond);
* ``dispersion`` — mean cosine distance of the items to their centroid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from llmloop.records import Frozen

_WORD = re.compile(r"\w+", re.UNICODE)
PAIRWISE_SAMPLE = 2000


class Diversity(Frozen):
    items: int
    distinct_1: float
    distinct_2: float
    mean_pairwise_distance: float
    dispersion: float


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams over all word n-grams (0 when there are none)."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        words = _WORD.findall(text.lower())
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def diversity(
    texts: Sequence[str], vectors: npt.NDArray[np.float64], *, seed: int = 0
) -> Diversity:
    """The figures above; ``vectors`` are L2-normalised embeddings of ``texts``."""
    points = np.asarray(vectors, dtype=np.float64)
    pairwise = dispersion = 0.0
    if len(points) >= 2:
        sample = points
        if len(points) > PAIRWISE_SAMPLE:
            rows = np.random.default_rng(seed).choice(len(points), PAIRWISE_SAMPLE, replace=False)
            sample = points[rows]
        similarity = sample @ sample.T
        m = len(sample)
        pairwise = float(1.0 - (similarity.sum() - np.trace(similarity)) / (m * (m - 1)))
        centroid = points.mean(axis=0)
        norm = np.linalg.norm(centroid)
        if norm > 0:
            dispersion = float(np.mean(1.0 - points @ (centroid / norm)))
    return Diversity(
        items=len(texts),
        distinct_1=round(distinct_n(texts, 1), 4),
        distinct_2=round(distinct_n(texts, 2), 4),
        mean_pairwise_distance=round(pairwise, 4),
        dispersion=round(dispersion, 4),
    )


__all__ = ["Diversity", "distinct_n", "diversity"]
