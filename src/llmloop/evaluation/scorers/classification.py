"""Classification: per-record correctness, and run-level accuracy, per-class and
macro/micro precision, recall and F1, and the confusion matrix."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from llmloop.evaluation.scorers.base import (
    Prepared,
    Row,
    Sample,
    ScorerConfig,
    Section,
    aggregator,
    scorer,
)
from llmloop.records import Score


class Classification(ScorerConfig):
    """Compares a predicted label with the expected one.

    Run-level metrics are named ``accuracy``, ``precision``, ``recall``, ``f1`` (macro
    averages over the classes seen), ``micro_precision``, ``micro_recall``, ``micro_f1``
    and ``f1[<class>]`` etc.; with ``prefix`` set they become ``<prefix>.accuracy`` and so on.
    """

    kind: ClassVar[str] = "classification"
    output_field: str = "label"
    expected_field: str = "label"
    prefix: str | None = None
    case_sensitive: bool = True

    def requires(self) -> list[tuple[Section, str]]:
        return [("outputs", self.output_field), ("expectations", self.expected_field)]

    def metric(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def label(self, value: Any) -> str:
        text = value if isinstance(value, str) else str(value)
        return text.strip() if self.case_sensitive else text.strip().casefold()


@scorer(Classification)
def classification(config: Classification, sample: Sample) -> Score:
    predicted = config.label(sample.get("outputs", config.output_field))
    expected = config.label(sample.get("expectations", config.expected_field))
    return sample.score(
        config,
        predicted == expected,
        name=config.name or config.metric("correct"),
        rationale=f"predicted {predicted!r}, expected {expected!r}",
    )


def confusion(expected: Sequence[str], predicted: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Class names (sorted) and the matrix: rows expected, columns predicted."""
    classes = sorted(set(expected) | set(predicted))
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    codes = np.array([index[e] * k + index[p] for e, p in zip(expected, predicted, strict=True)])
    matrix = np.bincount(codes, minlength=k * k).reshape(k, k) if k else np.zeros((0, 0))
    return classes, matrix.astype(np.int64)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def metrics_from_confusion(classes: Sequence[str], matrix: np.ndarray) -> dict[str, float]:
    """Accuracy, macro and micro P/R/F1 and per-class P/R/F1 from a confusion matrix."""
    total = float(matrix.sum())
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    actual = matrix.sum(axis=1).astype(float)
    out: dict[str, float] = {"accuracy": _ratio(tp.sum(), total)}
    precisions, recalls, f1s = [], [], []
    for i, name in enumerate(classes):
        p, r = _ratio(tp[i], predicted[i]), _ratio(tp[i], actual[i])
        f = _ratio(2 * p * r, p + r)
        out[f"precision[{name}]"], out[f"recall[{name}]"], out[f"f1[{name}]"] = p, r, f
        precisions.append(p)
        recalls.append(r)
        f1s.append(f)
    n = len(classes)
    out["precision"] = sum(precisions) / n if n else 0.0
    out["recall"] = sum(recalls) / n if n else 0.0
    out["f1"] = sum(f1s) / n if n else 0.0
    # single-label: micro P = micro R = micro F1 = accuracy
    for name in ("micro_precision", "micro_recall", "micro_f1"):
        out[name] = out["accuracy"]
    return out


@aggregator(Classification)
def classification_metrics(config: Classification, rows: Sequence[Row]) -> Prepared:
    """Labels coded once as confusion-matrix cells, so a resample is one bincount.

    The rows are read once, keeping two small integers per row, so a run read back from
    the store page by page is never held whole."""
    out_key, exp_key = config.output_field, config.expected_field
    seen: dict[str, int] = {}
    expected, predicted = array("i"), array("i")
    for r in rows:
        if out_key in r.outputs and exp_key in r.expectations:
            e = seen.setdefault(config.label(r.expectations[exp_key]), len(seen))
            p = seen.setdefault(config.label(r.outputs[out_key]), len(seen))
        else:
            e = p = -1
        expected.append(e)
        predicted.append(p)
    classes = sorted(seen)
    k = len(classes)
    order = np.array([classes.index(c) for c in seen], dtype=np.int64)  # seen -> sorted
    e_idx, p_idx = np.asarray(expected, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    usable = e_idx >= 0
    codes = np.full(len(e_idx), -1, dtype=np.int64)
    if k:
        codes[usable] = order[e_idx[usable]] * k + order[p_idx[usable]]
    matrix = (
        np.bincount(codes[usable], minlength=k * k).reshape(k, k).astype(np.int64)
        if k
        else np.zeros((0, 0), dtype=np.int64)
    )

    def values(idx: np.ndarray) -> dict[str, float]:
        chosen = codes[idx]
        counts = np.bincount(chosen[chosen >= 0], minlength=k * k).reshape(k, k)
        return {config.metric(m): v for m, v in metrics_from_confusion(classes, counts).items()}

    details = {
        config.metric("confusion_matrix"): {"classes": classes, "matrix": matrix.tolist()},
        config.metric("support"): {
            c: int(n) for c, n in zip(classes, matrix.sum(axis=1), strict=True)
        },
    }
    return Prepared(n=len(codes), values=values, details=details)
