"""Evaluation: scorers, runs over records, statistics, comparisons and CI gates.

from llmloop.evaluation import evaluate, ExactMatch
run = evaluate("local/ticket-assistant", records, [ExactMatch(expected_field="label")])
"""

from __future__ import annotations

from llmloop.evaluation.calibration import Agreement, agreement, calibrate
from llmloop.evaluation.compare import Comparison, compare_runs, compare_stored
from llmloop.evaluation.gate import GateReport, GateRule, GateRuleError, run_gate
from llmloop.evaluation.runner import aevaluate, evaluate
from llmloop.evaluation.scorers import (
    Classification,
    Contains,
    Efficiency,
    ExactMatch,
    JsonSchema,
    JsonValid,
    NormalizedMatch,
    Refusal,
    RegexMatch,
    RougeL,
    Sample,
    ScorerConfig,
    SemanticSimilarity,
    TokenF1,
    aggregator,
    kinds,
    load_scorer,
    scorer,
)
from llmloop.evaluation.scorers.judges import (
    CorrectnessJudge,
    FaithfulnessJudge,
    PairwiseJudge,
    RubricJudge,
)
from llmloop.evaluation.targets import CallableTarget, ModelTarget
from llmloop.store.evaluations import Aggregate, EvalResult, EvalRun

__all__ = [
    "Aggregate",
    "Agreement",
    "CallableTarget",
    "Classification",
    "Comparison",
    "Contains",
    "CorrectnessJudge",
    "Efficiency",
    "EvalResult",
    "EvalRun",
    "ExactMatch",
    "FaithfulnessJudge",
    "GateReport",
    "GateRule",
    "GateRuleError",
    "JsonSchema",
    "JsonValid",
    "ModelTarget",
    "NormalizedMatch",
    "PairwiseJudge",
    "Refusal",
    "RegexMatch",
    "RougeL",
    "RubricJudge",
    "Sample",
    "ScorerConfig",
    "SemanticSimilarity",
    "TokenF1",
    "aevaluate",
    "aggregator",
    "agreement",
    "calibrate",
    "compare_runs",
    "compare_stored",
    "evaluate",
    "kinds",
    "load_scorer",
    "run_gate",
    "scorer",
]
