"""What every embedded embedder is: a name, a dimension and a batch ``embed``.

Vectors are ``float32`` rows, L2-normalised, so a dot product is the cosine similarity.
Vectors from different embedders live in different spaces and must never be compared;
:attr:`Embedder.name` says which space a vector belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from llmloop.errors import ValidationError

FloatMatrix = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """A sentence embedder that runs in-process with no network."""

    @property
    def name(self) -> str:
        """The embedder's name, e.g. ``hashed-embed`` or ``minilm``."""
        ...

    @property
    def space(self) -> str:
        """The exact vector space (model, weights, settings, fitted corpus)."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """One L2-normalised ``float32`` row per text, in input order."""
        ...


def l2_normalize(matrix: npt.ArrayLike) -> FloatMatrix:
    """Rows scaled to unit length; an all-zero row stays zero (the empty text)."""
    array = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)


def check_texts(texts: Sequence[str]) -> list[str]:
    """The texts as a list, refusing a bare string and non-strings by position."""
    if isinstance(texts, str):
        raise ValidationError(
            "embed() takes a list of texts, not one string: pass [text] to embed a single text"
        )
    items = list(texts)
    for position, item in enumerate(items):
        if not isinstance(item, str):
            raise ValidationError(
                f"text #{position} is {type(item).__name__} {item!r}, not str: "
                "convert it to a string before embedding"
            )
    return items


def cosine(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    denominator = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / denominator if denominator > 0 else 0.0
