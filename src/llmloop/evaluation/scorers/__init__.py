"""Built-in scorers, registered under stable kinds on import of this package."""

from __future__ import annotations

from llmloop.evaluation.scorers import judges as judges  # registers the LLM judges
from llmloop.evaluation.scorers.base import (
    Prepared,
    Row,
    RunMetrics,
    Sample,
    ScorerConfig,
    aggregator,
    config_class,
    kinds,
    load_scorer,
    run_aggregate,
    run_scorer,
    scorer,
)
from llmloop.evaluation.scorers.choice import MultipleChoice, OutputNumber
from llmloop.evaluation.scorers.classification import Classification
from llmloop.evaluation.scorers.response import Efficiency, Refusal
from llmloop.evaluation.scorers.semantic import SemanticSimilarity
from llmloop.evaluation.scorers.structured import JsonSchema, JsonValid
from llmloop.evaluation.scorers.text import (
    Contains,
    ExactMatch,
    NormalizedMatch,
    RegexMatch,
    RougeL,
    TokenF1,
)
from llmloop.evaluation.scorers.toxicity import Toxicity

__all__ = [
    "Classification",
    "Contains",
    "Efficiency",
    "ExactMatch",
    "JsonSchema",
    "JsonValid",
    "MultipleChoice",
    "NormalizedMatch",
    "OutputNumber",
    "Prepared",
    "Refusal",
    "RegexMatch",
    "RougeL",
    "Row",
    "RunMetrics",
    "Sample",
    "ScorerConfig",
    "SemanticSimilarity",
    "TokenF1",
    "Toxicity",
    "aggregator",
    "config_class",
    "kinds",
    "load_scorer",
    "run_aggregate",
    "run_scorer",
    "scorer",
]
