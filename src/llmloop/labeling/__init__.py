"""Weak supervision: labeling functions, the label matrix, analysis and the label model.

Write labeling functions (:func:`labeling_function`, :func:`keyword_lf`,
:func:`regex_lf`, :func:`heuristic_lf`, model-based :func:`text_model_lf` and
:func:`llm_lf`), apply them to records with :func:`apply_labeling_functions`, look at
each function with :func:`analyze_sources`, and combine their votes into probabilistic
labels with :class:`LabelModel` (compared with majority vote by
:func:`label_model_report`). Pick the records to label next with :func:`select_batch`;
compare strategies on a labeled set with :func:`simulate`.
"""

from llmloop.labeling.active import (
    STRATEGIES,
    disagreement,
    entropy,
    k_center_greedy,
    least_confidence,
    margin,
    select_batch,
)
from llmloop.labeling.analysis import (
    LabelModelReport,
    MethodScore,
    SourceStats,
    analyze_sources,
    label_model_report,
)
from llmloop.labeling.functions import (
    LabelingFunction,
    heuristic_lf,
    keyword_lf,
    labeling_function,
    llm_lf,
    regex_lf,
    text_model_lf,
)
from llmloop.labeling.label_model import (
    ABSTAIN,
    FitInfo,
    LabelModel,
    majority_vote,
    majority_vote_proba,
)
from llmloop.labeling.matrix import LabelMatrix, LFFailure, apply_labeling_functions
from llmloop.labeling.simulation import LearningCurve, labels_to_reach, simulate

__all__ = [
    "ABSTAIN",
    "STRATEGIES",
    "FitInfo",
    "LFFailure",
    "LabelMatrix",
    "LabelModel",
    "LabelModelReport",
    "LabelingFunction",
    "LearningCurve",
    "MethodScore",
    "SourceStats",
    "analyze_sources",
    "apply_labeling_functions",
    "disagreement",
    "entropy",
    "heuristic_lf",
    "k_center_greedy",
    "keyword_lf",
    "label_model_report",
    "labeling_function",
    "labels_to_reach",
    "least_confidence",
    "llm_lf",
    "majority_vote",
    "majority_vote_proba",
    "margin",
    "regex_lf",
    "select_batch",
    "simulate",
    "text_model_lf",
]
