"""Semantic similarity: cosine similarity of embeddings from any embedding provider."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from llmloop.errors import ValidationError
from llmloop.evaluation.scorers.base import Sample, ScorerConfig, Section, scorer
from llmloop.records import Score


class SemanticSimilarity(ScorerConfig):
    """Cosine similarity in [-1, 1] between the output and the expected text, embedded
    with ``model`` through the provider registry (default: the embedded ``local/embed``)."""

    kind: ClassVar[str] = "semantic_similarity"
    output_field: str = "text"
    expected_field: str = "answer"
    model: str = "local/embed"

    def requires(self) -> list[tuple[Section, str]]:
        return [("outputs", self.output_field), ("expectations", self.expected_field)]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norm) if norm else 0.0


@scorer(SemanticSimilarity)
async def semantic_similarity(config: SemanticSimilarity, sample: Sample) -> Score:
    if sample.providers is None:
        raise ValidationError("semantic_similarity needs a provider registry to embed with")
    got = sample.text("outputs", config.output_field)
    want = sample.text("expectations", config.expected_field)
    response = await sample.providers.embed(config.model, [got, want])
    vectors = np.asarray(response.vectors, dtype=np.float64)
    return sample.score(
        config, cosine(vectors[0], vectors[1]), cost_usd=float(response.cost_usd or 0.0)
    )
