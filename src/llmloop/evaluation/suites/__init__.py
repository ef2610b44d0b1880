"""Holistic evaluation suites on top of :func:`~llmloop.evaluation.aevaluate`.

Each suite runs a target over records (and the variants it makes of them) as one stored
evaluation run and returns a :class:`SuiteReport` (also kept with the run)::

    from llmloop.evaluation.suites import robustness, fairness
    report = robustness("local/tickets", records, ["exact_match"], field="question")
    report = fairness("local/tickets", records, ["exact_match"], group_by=["language"],
                      probes=["names", "gender"])

Suites: :func:`robustness` (perturbations), :func:`fairness` (groups and counterfactual
probes), :func:`bbq` and :func:`crows_pairs` (bias benchmarks), :func:`calibration`
(ECE, Brier, reliability). Every function has an ``a``-prefixed async twin.
"""

from __future__ import annotations

from llmloop.evaluation.suites.bias import (
    BbqItem,
    PairItem,
    abbq,
    acrows_pairs,
    bbq,
    crows_pairs,
)
from llmloop.evaluation.suites.calibration import (
    acalibration,
    brier_score,
    calibration,
    expected_calibration_error,
    reliability,
)
from llmloop.evaluation.suites.counterfactual import counterfactuals
from llmloop.evaluation.suites.fairness import afairness, fairness
from llmloop.evaluation.suites.perturb import PERTURBATIONS, perturb
from llmloop.evaluation.suites.report import SuiteReport, stored_report
from llmloop.evaluation.suites.robustness import arobustness, robustness

SUITES = ("robustness", "fairness", "bbq", "crows_pairs", "calibration")

__all__ = [
    "PERTURBATIONS",
    "SUITES",
    "BbqItem",
    "PairItem",
    "SuiteReport",
    "abbq",
    "acalibration",
    "acrows_pairs",
    "afairness",
    "arobustness",
    "bbq",
    "brier_score",
    "calibration",
    "counterfactuals",
    "crows_pairs",
    "expected_calibration_error",
    "fairness",
    "perturb",
    "reliability",
    "robustness",
    "stored_report",
]
