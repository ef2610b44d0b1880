"""Judge calibration: how well an LLM judge agrees with human labels on the same records.

:func:`agreement` compares two label sequences (Cohen's kappa via scikit-learn, and raw
accuracy); :func:`calibrate` pairs a run's judge :class:`~llmloop.records.Score`\\ s with
human Scores by record and score name. In evaluation runs the judges compute the same
figures as run aggregates (``<score>.kappa`` and ``<score>.human_accuracy``) whenever the
records carry human labels in ``expectations["human_labels"][<score name>]`` (see
:class:`llmloop.evaluation.scorers.judges.JudgeConfig`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.metrics import cohen_kappa_score

from llmloop.errors import ValidationError
from llmloop.records import Score, ScoreSourceKind, ScoreValue

Weights = Literal["linear", "quadratic"] | None


@dataclass(frozen=True, slots=True)
class Agreement:
    """Agreement of a judge with humans over ``n`` records labelled by both."""

    kappa: float
    accuracy: float
    n: int


def category(value: ScoreValue) -> Hashable:
    """A label as a category: numbers compared to 6 decimals, bools as 0/1, text as is."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return round(float(value), 6)
    return value


def agreement(
    judge: Sequence[ScoreValue], human: Sequence[ScoreValue], *, weights: Weights = None
) -> Agreement:
    """Cohen's kappa and accuracy of ``judge`` labels against ``human`` labels.

    When both raters gave one and the same label throughout, kappa is undefined (0/0);
    it is reported as 1.0 since they agree on every record. ``weights`` (``linear`` or
    ``quadratic``) gives partial credit on ordinal scales and needs numeric labels.
    """
    if len(judge) != len(human):
        raise ValidationError(
            f"judge and human labels differ in length ({len(judge)} vs {len(human)})"
        )
    if not judge:
        raise ValidationError("no records with both a judge score and a human label")
    a = [category(v) for v in judge]
    b = [category(v) for v in human]
    accuracy = float(np.mean([x == y for x, y in zip(a, b, strict=True)]))
    if len(set(a) | set(b)) == 1:
        return Agreement(kappa=1.0, accuracy=accuracy, n=len(a))
    try:
        kappa = float(cohen_kappa_score(a, b, weights=weights))
    except TypeError:
        raise ValidationError(
            f"weights={weights!r} needs numeric labels of one type; "
            f"got {sorted(map(repr, set(a) | set(b)))}"
        ) from None
    return Agreement(kappa=kappa, accuracy=accuracy, n=len(a))


def calibrate(
    judge_scores: Sequence[Score], human_scores: Sequence[Score], *, weights: Weights = None
) -> dict[str, Agreement]:
    """Agreement per score name between judge Scores and human Scores on the same targets.

    Scores are paired by ``(target_id, name)``; judge Scores are those whose source is a
    judge, human Scores those whose source is a human (a record labelled by several humans
    counts its latest label). Names with no pair are left out.
    """
    judged = {(s.target_id, s.name): s.value for s in judge_scores if _is(s, ScoreSourceKind.judge)}
    labelled: dict[tuple[str, str], Score] = {}
    for s in human_scores:
        if _is(s, ScoreSourceKind.human):
            key = (s.target_id, s.name)
            if key not in labelled or labelled[key].created_at <= s.created_at:
                labelled[key] = s
    pairs: dict[str, tuple[list[ScoreValue], list[ScoreValue]]] = {}
    for key in sorted(judged.keys() & labelled.keys()):
        js, hs = pairs.setdefault(key[1], ([], []))
        js.append(judged[key])
        hs.append(labelled[key].value)
    return {name: agreement(js, hs, weights=weights) for name, (js, hs) in pairs.items()}


def _is(score: Score, kind: ScoreSourceKind) -> bool:
    return score.source.kind == kind
