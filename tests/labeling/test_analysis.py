from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from llmloop.errors import ValidationError
from llmloop.labeling import LabelMatrix, LabelModel, analyze_sources, label_model_report

CLASSES = ["neg", "pos"]


def test_coverage_overlap_conflict_and_empirical_accuracy() -> None:
    L = [
        [1, 1, -1],  # a and b agree
        [1, 0, -1],  # a and b conflict
        [0, -1, -1],  # a alone
        [-1, -1, 1],  # c alone
    ]
    matrix = LabelMatrix.from_array(L, CLASSES, sources=["a", "b", "c"])
    stats = {s.name: s for s in analyze_sources(matrix, gold=["pos", "neg", "neg", None])}
    a, b, c = stats["a"], stats["b"], stats["c"]
    assert (a.coverage, a.overlap, a.conflict, a.votes) == (0.75, 0.5, 0.25, 3)
    assert (b.coverage, b.overlap, b.conflict) == (0.5, 0.5, 0.25)
    assert (c.coverage, c.overlap, c.conflict) == (0.25, 0.0, 0.0)
    assert a.polarity == ("neg", "pos") and c.polarity == ("pos",)
    assert (a.correct, a.incorrect, a.empirical_accuracy) == (2, 1, pytest.approx(2 / 3))
    assert (b.correct, b.incorrect) == (2, 0)
    assert (c.correct, c.incorrect, c.empirical_accuracy) == (0, 0, None)  # no gold there
    assert a.learned_accuracy is None


def test_without_gold_accuracy_is_absent_and_bad_gold_is_refused() -> None:
    matrix = LabelMatrix.from_array([[0, 1], [1, -1]], CLASSES)
    stats = analyze_sources(matrix)
    assert stats[0].empirical_accuracy is None and stats[0].correct is None
    with pytest.raises(ValidationError, match="one gold label"):
        analyze_sources(matrix, gold=["pos"])
    with pytest.raises(ValidationError, match=r"gold labels \['maybe'\] are not among"):
        analyze_sources(matrix, gold=["pos", "maybe"])


def test_report_compares_label_model_with_majority_vote(make_matrix: Callable[..., Any]) -> None:
    data = make_matrix(5_000, [0.97, 0.95, 0.6, 0.6, 0.6], [0.7, 0.7, 0.9, 0.9, 0.9], seed=5)
    matrix = LabelMatrix.from_array(data.L, CLASSES)
    gold = [CLASSES[v] for v in data.y]
    model = LabelModel(2).fit(matrix.values)
    report = label_model_report(matrix, model, gold=gold)
    scores = {s.method: s for s in report.scores}
    assert scores["label_model"].accuracy > scores["majority_vote"].accuracy + 0.03
    assert scores["label_model"].evaluated == int((data.L != -1).any(axis=1).sum())
    assert report.rows == 5_000 and report.sources == 5
    assert 0.5 < report.agreement_with_majority_vote < 1.0
    assert sum(report.class_balance.values()) == pytest.approx(1.0)
    learned = [s.learned_accuracy for s in report.sources_stats]
    assert np.abs(np.array(learned) - data.accuracies).max() < 0.05
    assert report.as_dict()["sources_stats"][0]["name"] == "lf_0"
    with pytest.raises(ValidationError, match="not fitted yet"):
        label_model_report(matrix, LabelModel(2))
    unjudged = label_model_report(matrix, model, gold=[None] * 5_000)
    assert unjudged.scores == ()
