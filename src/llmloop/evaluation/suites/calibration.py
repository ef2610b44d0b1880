"""Calibration of a target's confidence: expected calibration error, Brier score and the
data of a reliability diagram.

The target reports a confidence in its answer, ``outputs[confidence_field]`` in [0, 1]
(the local models' ``probability``), or a log-probability ``outputs[logprob_field]``
(turned into ``exp(logprob)``). Whether the answer was right comes from a scorer's score
(``correct_score``, by default the first scorer's). ECE is computed with equal-width bins
and with adaptive (equal-count) bins; all figures come with bootstrap intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from llmloop.errors import ValidationError
from llmloop.evaluation.inputs import to_records, to_scorers
from llmloop.evaluation.statistics import DEFAULT_RESAMPLES, bootstrap_statistic
from llmloop.evaluation.suites.report import (
    Chart,
    RecordsLike,
    ScorersLike,
    SuiteReport,
    Table,
    ci_text,
    efficiency,
    fmt,
    interval,
    run_records,
    run_sync,
    store_report,
)
from llmloop.runtime import Runtime
from llmloop.store.evaluations import Aggregate, EvalResult

Strategy = Literal["uniform", "adaptive"]


def _edges(confidence: np.ndarray, bins: int, strategy: Strategy) -> np.ndarray:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, bins + 1)
    edges = np.quantile(confidence, np.linspace(0.0, 1.0, bins + 1))
    edges[0], edges[-1] = 0.0, 1.0
    return np.maximum.accumulate(edges)


def _bin_index(confidence: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each confidence: (lo, hi] except the first bin, which includes 0."""
    return np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, len(edges) - 2)


def _check(confidence: np.ndarray, correct: np.ndarray, bins: int) -> None:
    if confidence.shape != correct.shape:
        raise ValidationError(
            f"confidences and outcomes differ in length ({len(confidence)} vs {len(correct)})"
        )
    if bins < 1:
        raise ValidationError(f"bins must be at least 1, got {bins}")
    if len(confidence) and (np.any(confidence < 0) or np.any(confidence > 1)):
        raise ValidationError("confidences must lie in [0, 1]")


def reliability(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[float] | np.ndarray,
    *,
    bins: int = 10,
    strategy: Strategy = "uniform",
) -> list[dict[str, float]]:
    """Per non-empty bin: its range, count, mean confidence and accuracy."""
    conf, hit = np.asarray(confidence, float), np.asarray(correct, float)
    _check(conf, hit, bins)
    if not len(conf):
        return []
    edges = _edges(conf, bins, strategy)
    index = _bin_index(conf, edges)
    out = []
    for b in range(len(edges) - 1):
        mask = index == b
        if mask.any():
            out.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "count": int(mask.sum()),
                    "confidence": float(conf[mask].mean()),
                    "accuracy": float(hit[mask].mean()),
                }
            )
    return out


def expected_calibration_error(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[float] | np.ndarray,
    *,
    bins: int = 10,
    strategy: Strategy = "uniform",
) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over the bins (NaN if empty)."""
    rows = reliability(confidence, correct, bins=bins, strategy=strategy)
    total = sum(r["count"] for r in rows)
    if not total:
        return float("nan")
    return float(sum(r["count"] * abs(r["accuracy"] - r["confidence"]) for r in rows) / total)


def maximum_calibration_error(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[float] | np.ndarray,
    *,
    bins: int = 10,
    strategy: Strategy = "uniform",
) -> float:
    rows = reliability(confidence, correct, bins=bins, strategy=strategy)
    return max((abs(r["accuracy"] - r["confidence"]) for r in rows), default=float("nan"))


def brier_score(
    confidence: Sequence[float] | np.ndarray, correct: Sequence[float] | np.ndarray
) -> float:
    """Mean squared difference between the confidence and the 0/1 outcome."""
    conf, hit = np.asarray(confidence, float), np.asarray(correct, float)
    _check(conf, hit, 1)
    return float(np.mean((conf - hit) ** 2)) if len(conf) else float("nan")


def _confidence(
    result: EvalResult, confidence_field: str, logprob_field: str | None
) -> float | None:
    outputs = result.outputs or {}
    if logprob_field is not None:
        value = outputs.get(logprob_field)
        if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
            return math.exp(value)
        return None
    value = outputs.get(confidence_field)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None


def pairs_of(
    results: Sequence[EvalResult], score: str, confidence_field: str, logprob_field: str | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Confidences and 0/1 outcomes of the records that have both; how many lacked one."""
    conf, hit, missing = [], [], 0
    for r in results:
        c = _confidence(r, confidence_field, logprob_field) if r.error is None else None
        v = r.value(score)
        if c is None or v is None:
            missing += 1
            continue
        conf.append(c)
        hit.append(float(v >= 0.5))
    return np.array(conf), np.array(hit), missing


def calibration_metrics(
    conf: np.ndarray, hit: np.ndarray, *, bins: int, resamples: int, seed: int
) -> dict[str, Aggregate]:
    stats = {
        "ece": lambda i: expected_calibration_error(conf[i], hit[i], bins=bins),
        "ece_adaptive": lambda i: expected_calibration_error(
            conf[i], hit[i], bins=bins, strategy="adaptive"
        ),
        "mce": lambda i: maximum_calibration_error(conf[i], hit[i], bins=bins),
        "brier": lambda i: brier_score(conf[i], hit[i]),
        "accuracy": lambda i: float(hit[i].mean()),
        "confidence": lambda i: float(conf[i].mean()),
        "overconfidence": lambda i: float(conf[i].mean() - hit[i].mean()),
    }
    return {
        name: interval(bootstrap_statistic(fn, len(conf), resamples=resamples, seed=seed))
        for name, fn in stats.items()
    }


async def acalibration(
    target: Any,
    records: RecordsLike,
    scorers: ScorersLike,
    *,
    runtime: Runtime,
    correct_score: str | None = None,
    confidence_field: str = "probability",
    logprob_field: str | None = None,
    bins: int = 10,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    **options: Any,
) -> SuiteReport:
    """Run ``target`` on ``records``; report how well its confidence matches its accuracy."""
    if bins < 1 or bins > 100:
        raise ValidationError(f"bins must be between 1 and 100, got {bins}")
    configs = to_scorers(scorers)
    score = correct_score or configs[0].score_name
    source = to_records(records)
    run, results = await run_records(
        target,
        source,
        configs,
        runtime=runtime,
        kind="calibration",
        options={**options, "resamples": resamples},
    )
    conf, hit, missing = pairs_of(results, score, confidence_field, logprob_field)
    where = f"outputs.{logprob_field or confidence_field}"
    if not len(conf):
        raise ValidationError(
            f"no record has both a confidence in {where} (a number in [0, 1]"
            f"{', or a log-probability <= 0' if logprob_field else ''}) and a {score!r} score; "
            f"run {run.id} is stored without a calibration report"
        )
    metrics = calibration_metrics(conf, hit, bins=bins, resamples=resamples, seed=seed)
    uniform = reliability(conf, hit, bins=bins)
    adaptive = reliability(conf, hit, bins=bins, strategy="adaptive")

    def bin_rows(rows: list[dict[str, float]]) -> list[list[Any]]:
        return [
            [
                f"{r['low']:.2f}-{r['high']:.2f}",
                r["count"],
                fmt(r["confidence"]),
                fmt(r["accuracy"]),
                fmt(r["accuracy"] - r["confidence"]),
            ]
            for r in rows
        ]

    columns = ["bin", "n", "confidence", "accuracy", "gap"]
    report = SuiteReport(
        kind="calibration",
        run_id=run.id,
        name=run.name,
        target=run.target,
        settings={"score": score, "confidence": where, "bins": bins, "records": len(source)},
        metrics=metrics,
        tables=[
            Table(
                title="Calibration",
                columns=["metric", "value", "95% CI"],
                rows=[[k, fmt(v.value), ci_text(v)] for k, v in metrics.items()],
            ),
            Table(title="Reliability (equal-width bins)", columns=columns, rows=bin_rows(uniform)),
            Table(title="Reliability (equal-count bins)", columns=columns, rows=bin_rows(adaptive)),
        ],
        charts=[
            Chart(
                title="Reliability diagram",
                type="reliability",
                labels=[f"{r['confidence']:.3f}" for r in uniform],
                series={
                    "accuracy": [r["accuracy"] for r in uniform],
                    "confidence": [r["confidence"] for r in uniform],
                    "count": [float(r["count"]) for r in uniform],
                },
            )
        ],
        efficiency=efficiency(results, len(source)),
        notes=[f"{missing} record(s) without a confidence or a {score!r} score left out"],
    )
    return await store_report(runtime, run, report)


def calibration(
    target: Any,
    records: RecordsLike,
    scorers: ScorersLike,
    *,
    runtime: Runtime | None = None,
    **options: Any,
) -> SuiteReport:
    """:func:`acalibration` for code without an event loop."""
    return run_sync(acalibration, target, records, scorers, runtime=runtime, **options)
