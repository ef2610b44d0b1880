"""How good are the labeling functions, and what did the label model add?

* :func:`analyze_sources` — per source: the classes it votes, coverage (share of records
  it votes on), overlap (votes where another source also voted), conflict (votes where
  another source voted a different class), and, where gold labels exist, its empirical
  accuracy; with a fitted label model, the accuracy the model learned for it.
* :func:`label_model_report` — the label model against majority vote on the same
  matrix: coverage, the class balance it learned, how often the two agree, and their
  accuracy on the covered records that have gold labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from llmloop.errors import ValidationError
from llmloop.labeling.label_model import ABSTAIN, LabelModel, majority_vote, vote_counts
from llmloop.labeling.matrix import LabelMatrix


@dataclass(frozen=True)
class SourceStats:
    """One labeling source's figures over a label matrix."""

    name: str
    polarity: tuple[str, ...]
    coverage: float
    overlap: float
    conflict: float
    votes: int
    correct: int | None = None
    incorrect: int | None = None
    empirical_accuracy: float | None = None
    learned_accuracy: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"polarity": list(self.polarity)}


def gold_indices(matrix: LabelMatrix, gold: Sequence[str | None]) -> npt.NDArray[np.int64]:
    """Gold class names (``None`` where unknown) as class indices (``-1`` where unknown)."""
    if isinstance(gold, str) or len(gold) != len(matrix.record_ids):
        raise ValidationError(
            f"give one gold label (or None) per record: {len(matrix.record_ids)} expected"
        )
    index = {c: i for i, c in enumerate(matrix.classes)}
    unknown = sorted({g for g in gold if g is not None and g not in index}, key=str)
    if unknown:
        raise ValidationError(
            f"gold labels {unknown[:10]} are not among the classes {list(matrix.classes)}"
        )
    return np.array([ABSTAIN if g is None else index[g] for g in gold], dtype=np.int64)


def analyze_sources(
    matrix: LabelMatrix,
    *,
    gold: Sequence[str | None] | None = None,
    model: LabelModel | None = None,
) -> list[SourceStats]:
    """Coverage, overlap, conflict (and accuracy against gold or as learned) per source."""
    L = matrix.values
    m = L.shape[1]
    fired = L != ABSTAIN
    fired_per_row = fired.sum(axis=1)
    counts = vote_counts(L, matrix.cardinality)
    own = np.take_along_axis(counts, np.where(fired, L, 0).astype(np.int64), axis=1)
    conflicted = fired & (fired_per_row[:, None] - own > 0)
    overlapped = fired & (fired_per_row[:, None] > 1)
    truth = gold_indices(matrix, gold) if gold is not None else None
    learned = model.accuracies if model is not None else None
    if learned is not None and len(learned) != m:
        raise ValidationError(f"the label model was fitted on {len(learned)} sources, not {m}")
    stats = []
    for j, name in enumerate(matrix.sources):
        voted = np.unique(L[fired[:, j], j])
        correct = incorrect = None
        empirical = None
        if truth is not None:
            judged = fired[:, j] & (truth != ABSTAIN)
            correct = int((L[judged, j] == truth[judged]).sum())
            incorrect = int(judged.sum()) - correct
            empirical = correct / (correct + incorrect) if correct + incorrect else None
        stats.append(
            SourceStats(
                name=name,
                polarity=tuple(matrix.classes[int(v)] for v in voted),
                coverage=float(fired[:, j].mean()),
                overlap=float(overlapped[:, j].mean()),
                conflict=float(conflicted[:, j].mean()),
                votes=int(fired[:, j].sum()),
                correct=correct,
                incorrect=incorrect,
                empirical_accuracy=empirical,
                learned_accuracy=None if learned is None else float(learned[j]),
            )
        )
    return stats


@dataclass(frozen=True)
class MethodScore:
    """A labeling method's accuracy on covered records with a gold label."""

    method: str
    accuracy: float
    evaluated: int


@dataclass(frozen=True)
class LabelModelReport:
    """The label model next to majority vote on one matrix."""

    rows: int
    sources: int
    coverage: float
    class_balance: dict[str, float]
    agreement_with_majority_vote: float
    iterations: int
    converged: bool
    fit_seconds: float
    scores: tuple[MethodScore, ...] = ()
    sources_stats: tuple[SourceStats, ...] = ()

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["sources_stats"] = [s.as_dict() for s in self.sources_stats]
        return out


def label_model_report(
    matrix: LabelMatrix,
    model: LabelModel,
    *,
    gold: Sequence[str | None] | None = None,
    seed: int = 0,
) -> LabelModelReport:
    """Summarise a fitted label model and compare it with majority vote on ``matrix``."""
    if model.fit_info is None:
        raise ValidationError("the label model is not fitted yet: call fit(L) first")
    L = matrix.values
    covered = (L != ABSTAIN).any(axis=1)
    model_pred = model.predict(L, tie_break="random", seed=seed)
    vote_pred = majority_vote(L, matrix.cardinality, tie_break="random", seed=seed)
    agreement = float((model_pred[covered] == vote_pred[covered]).mean()) if covered.any() else 0.0
    scores: list[MethodScore] = []
    if gold is not None:
        truth = gold_indices(matrix, gold)
        judged = covered & (truth != ABSTAIN)
        total = int(judged.sum())
        for method, pred in (("majority_vote", vote_pred), ("label_model", model_pred)):
            if total:  # no covered record with a gold label: nothing to score
                accuracy = float((pred[judged] == truth[judged]).mean())
                scores.append(MethodScore(method, accuracy, total))
    balance = model.class_balance
    info = model.fit_info
    return LabelModelReport(
        rows=L.shape[0],
        sources=L.shape[1],
        coverage=float(covered.mean()),
        class_balance={c: float(p) for c, p in zip(matrix.classes, balance, strict=True)},
        agreement_with_majority_vote=agreement,
        iterations=info.iterations,
        converged=info.converged,
        fit_seconds=info.seconds,
        scores=tuple(scores),
        sources_stats=tuple(analyze_sources(matrix, gold=gold, model=model)),
    )


__all__ = [
    "LabelModelReport",
    "MethodScore",
    "SourceStats",
    "analyze_sources",
    "gold_indices",
    "label_model_report",
]
