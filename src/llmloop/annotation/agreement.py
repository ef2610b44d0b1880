"""Inter-annotator agreement: percent agreement, Cohen's kappa per pair, Krippendorff's alpha.

Input is the answers per item per annotator (hashable answers, see
:func:`llmloop.store.annotation_types.answer_key`). Items with fewer than two answers
carry no information about agreement and are left out of every figure.

* percent agreement — the share of items on which every annotator gave the same answer,
  and the share of agreeing annotator pairs over all pairs on the same items;
* Cohen's kappa — per pair of annotators, on the items both answered (linearly weighted
  for ordinal answers, quadratically for interval ones);
* Krippendorff's alpha — over everyone at once, with missing answers, at the level of
  measurement given (``nominal``, ``ordinal``, ``interval``), computed with the
  ``krippendorff`` package.

A statistic that is undefined (every answer identical, so there is no variation to
agree on) is ``None`` with a note, never a made-up 1.0 or 0.0.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Hashable, Mapping

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score

from llmloop.records import Frozen
from llmloop.store.annotation_types import Level

Answers = Mapping[str, Mapping[str, Hashable]]  # item id -> annotator -> answer
KAPPA_WEIGHTS: dict[str, str | None] = {
    "nominal": None,
    "ordinal": "linear",
    "interval": "quadratic",
}


class PairAgreement(Frozen):
    a: str
    b: str
    items: int
    percent: float
    kappa: float | None = None


class AnnotatorStats(Frozen):
    annotator: str
    answered: int
    compared: int = 0
    agreement_with_others: float | None = None
    agreement_with_final: float | None = None
    finals_compared: int = 0


class AgreementReport(Frozen):
    level: Level
    items: int
    items_compared: int
    percent_agreement: float | None = None
    pairwise_agreement: float | None = None
    kappa_mean: float | None = None
    alpha: float | None = None
    pairs: list[PairAgreement] = []
    annotators: list[AnnotatorStats] = []
    notes: list[str] = []


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 4)


def cohen_kappa(a: list[Hashable], b: list[Hashable], level: Level = "nominal") -> float | None:
    """Cohen's kappa of two annotators' answers on the same items; None when undefined."""
    if len(a) != len(b):
        raise ValueError(f"two answer lists of the same length needed, got {len(a)} and {len(b)}")
    if not a or len(set(a) | set(b)) < 2:
        return None
    weights = KAPPA_WEIGHTS[level]
    if weights is None:
        codes = {v: float(i) for i, v in enumerate(sorted(set(a) | set(b), key=str))}
    else:
        codes = {v: float(v) for v in set(a) | set(b)}  # type: ignore[arg-type]
    xa, xb = [codes[v] for v in a], [codes[v] for v in b]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = cohen_kappa_score(xa, xb, weights=weights)
    return _round(float(value))


def krippendorff_alpha(answers: Answers, level: Level = "nominal") -> float | None:
    """Krippendorff's alpha over all annotators; None with no variation or nothing pairable."""
    items = [i for i, by in answers.items() if len(by) >= 2]
    annotators = sorted({a for i in items for a in answers[i]})
    values = {v for i in items for v in answers[i].values()}
    if not items or len(values) < 2:
        return None
    if level == "nominal":
        codes = {v: float(n) for n, v in enumerate(sorted(values, key=str))}
    else:
        codes = {v: float(v) for v in values}  # type: ignore[arg-type]
    data = np.full((len(annotators), len(items)), np.nan)
    row = {a: n for n, a in enumerate(annotators)}
    for col, item in enumerate(items):
        for annotator, value in answers[item].items():
            data[row[annotator], col] = codes[value]
    return _round(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def agreement(
    answers: Answers,
    level: Level = "nominal",
    *,
    finals: Mapping[str, Hashable] | None = None,
) -> AgreementReport:
    """Every agreement figure for one queue's answers (``finals``: settled labels)."""
    multi = {i: by for i, by in answers.items() if len(by) >= 2}
    notes: list[str] = []
    all_agree = [len(set(by.values())) == 1 for by in multi.values()]
    pair_hits: dict[tuple[str, str], list[tuple[Hashable, Hashable]]] = {}
    for by in multi.values():
        for a, b in itertools.combinations(sorted(by), 2):
            pair_hits.setdefault((a, b), []).append((by[a], by[b]))
    pairs = []
    for (a, b), shared in sorted(pair_hits.items()):
        left, right = [x for x, _ in shared], [y for _, y in shared]
        pairs.append(
            PairAgreement(
                a=a,
                b=b,
                items=len(shared),
                percent=round(sum(x == y for x, y in shared) / len(shared), 4),
                kappa=cohen_kappa(left, right, level),
            )
        )
    total_pairs = sum(p.items for p in pairs)
    agreeing_pairs = sum(p.percent * p.items for p in pairs)
    kappas = [p.kappa for p in pairs if p.kappa is not None]
    alpha = krippendorff_alpha(answers, level)
    if multi and alpha is None:
        notes.append("alpha is undefined: every answer is the same, there is no variation")
    if not multi:
        notes.append("no item has answers from two annotators yet")
    return AgreementReport(
        level=level,
        items=len(answers),
        items_compared=len(multi),
        percent_agreement=_round(sum(all_agree) / len(all_agree)) if all_agree else None,
        pairwise_agreement=_round(agreeing_pairs / total_pairs) if total_pairs else None,
        kappa_mean=_round(float(np.mean(kappas))) if kappas else None,
        alpha=alpha,
        pairs=pairs,
        annotators=annotator_stats(answers, finals or {}),
        notes=notes,
    )


def annotator_stats(answers: Answers, finals: Mapping[str, Hashable]) -> list[AnnotatorStats]:
    """Per annotator: answers, agreement with the others on shared items and with finals."""
    answered: dict[str, int] = {}
    agree: dict[str, list[bool]] = {}
    with_final: dict[str, list[bool]] = {}
    for item, by in answers.items():
        for annotator, value in by.items():
            answered[annotator] = answered.get(annotator, 0) + 1
            for other, theirs in by.items():
                if other != annotator:
                    agree.setdefault(annotator, []).append(value == theirs)
            if item in finals:
                with_final.setdefault(annotator, []).append(value == finals[item])
    out = []
    for annotator in sorted(answered):
        others, final = agree.get(annotator, []), with_final.get(annotator, [])
        out.append(
            AnnotatorStats(
                annotator=annotator,
                answered=answered[annotator],
                compared=len(others),
                agreement_with_others=_round(sum(others) / len(others)) if others else None,
                agreement_with_final=_round(sum(final) / len(final)) if final else None,
                finals_compared=len(final),
            )
        )
    return out
