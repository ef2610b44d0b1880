"""Fairness: scores per group of a slice tag, and counterfactual probes.

Group metrics come from the records' metadata (``group_by=["user_group"]``): each score's
mean per group with a bootstrap interval, the worst group, the largest gap (best minus
worst) and ratio (worst over best). Intervals of the gap and ratio resample every group
on its own (stratified), so each resample has every group.

Counterfactual probes rewrite one input field (names, gendered terms, dialect markers; see
:mod:`.counterfactual`) and measure how often the answer changes and how each score moves.
Records and counterfactual variants are one stored evaluation run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llmloop.errors import ValidationError
from llmloop.evaluation.aggregates import score_values, to_aggregate
from llmloop.evaluation.inputs import to_records
from llmloop.evaluation.statistics import DEFAULT_RESAMPLES, bootstrap_mean
from llmloop.evaluation.suites.counterfactual import check_probes, counterfactuals
from llmloop.evaluation.suites.report import (
    CLEAN,
    VARIANT,
    Chart,
    RecordsLike,
    ScorersLike,
    SuiteReport,
    Table,
    ci_text,
    clean,
    efficiency,
    fmt,
    interval,
    run_records,
    run_sync,
    store_report,
    text_field,
    variant,
)
from llmloop.evaluation.suites.robustness import consistency, flips, pairs_by_variant, score_rows
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.store.evaluations import Aggregate, EvalResult


def gap_and_ratio(
    groups: dict[str, np.ndarray], *, resamples: int, seed: int
) -> tuple[Aggregate, Aggregate]:
    """Best-minus-worst gap and worst-over-best ratio of the group means, with intervals
    from a stratified bootstrap (the ratio is undefined when the best mean is 0)."""
    means = np.array([v.mean() for v in groups.values()])
    n = sum(len(v) for v in groups.values())
    rng = np.random.default_rng(seed)
    sampled = np.array(
        [
            [v[rng.integers(0, len(v), len(v))].mean() for v in groups.values()]
            for _ in range(resamples)
        ]
    )
    best, worst = sampled.max(axis=1), sampled.min(axis=1)
    gaps = best - worst
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(best > 0, worst / best, np.nan)
    gap = float(means.max() - means.min())
    ratio = float(means.min() / means.max()) if means.max() > 0 else float("nan")
    gap_low, gap_high = np.quantile(gaps, [0.025, 0.975])
    gap_agg = to_aggregate(gap, min(gap_low, gap), max(gap_high, gap), n)
    if np.isnan(ratio) or np.all(np.isnan(ratios)):
        return gap_agg, to_aggregate(float("nan"), float("nan"), float("nan"), n)
    low, high = np.nanquantile(ratios, [0.025, 0.975])
    return gap_agg, to_aggregate(ratio, min(low, ratio), max(high, ratio), n)


def _group_columns(
    results: Sequence[EvalResult], key: str, min_size: int
) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """Per score, the values of each group of ``key`` (groups smaller than ``min_size``
    left out, and named)."""
    labels = [str(r.metadata[key]) if key in r.metadata else None for r in results]
    columns = score_values(results)
    out: dict[str, dict[str, np.ndarray]] = {}
    small: set[str] = set()
    for score, column in columns.items():
        for group in sorted({g for g in labels if g is not None}):
            mask = np.array([g == group for g in labels]) & ~np.isnan(column)
            if mask.sum() < min_size:
                small.add(group)
                continue
            out.setdefault(score, {})[group] = column[mask]
    return out, sorted(small)


def group_report(
    results: Sequence[EvalResult],
    key: str,
    *,
    min_size: int,
    resamples: int,
    seed: int,
    metrics: dict[str, Aggregate],
) -> tuple[list[Table], list[Chart], list[str]]:
    per_score, small = _group_columns(results, key, min_size)
    tables, charts, notes = [], [], []
    if small:
        notes.append(f"groups of {key} with fewer than {min_size} scored records left out: {small}")
    for score, groups in per_score.items():
        cis = {
            g: interval(bootstrap_mean(v, resamples=resamples, seed=seed))
            for g, v in groups.items()
        }
        rows = [[g, ci.n, fmt(ci.value), ci_text(ci)] for g, ci in cis.items()]
        tables.append(
            Table(title=f"{score} by {key}", columns=[key, "n", score, "95% CI"], rows=rows)
        )
        charts.append(
            Chart(
                title=f"{score} by {key}",
                labels=list(cis),
                series={score: [ci.value for ci in cis.values()]},
            )
        )
        if len(groups) < 2:
            continue
        worst = min(cis, key=lambda g: float(np.mean(groups[g])))
        gap, ratio = gap_and_ratio(groups, resamples=resamples, seed=seed)
        metrics[f"{score}.worst_group[{key}]"] = cis[worst]
        metrics[f"{score}.max_gap[{key}]"] = gap
        metrics[f"{score}.ratio[{key}]"] = ratio
        tables.append(
            Table(
                title=f"{score} disparity across {key}",
                columns=["worst group", "worst", "max gap", "gap 95% CI", "ratio", "ratio 95% CI"],
                rows=[
                    [
                        worst,
                        fmt(cis[worst].value),
                        fmt(gap.value),
                        ci_text(gap),
                        fmt(ratio.value),
                        ci_text(ratio),
                    ]
                ],
            )
        )
    return tables, charts, notes


PROBE_COLUMNS = ["probe", "score", "n", "original", "counterfactual", "delta", "delta 95% CI", "p"]


def expand(records: Sequence[Record], key: str | None, probes: Sequence[str]) -> list[Record]:
    out = []
    for record in records:
        out.append(clean(record))
        if key is None:
            continue
        for v in counterfactuals(record.inputs[key], list(probes)):
            out.append(variant(record, f"{v.probe}:{v.source_group}>{v.target_group}", key, v.text))
    return out


def probe_report(
    results: Sequence[EvalResult],
    key: str,
    *,
    output_field: str | None,
    examples: int,
    resamples: int,
    seed: int,
    metrics: dict[str, Aggregate],
) -> tuple[list[Table], list[Chart], list[dict[str, Any]]]:
    _, pairs = pairs_by_variant(results)
    by_probe: dict[str, list[Any]] = {}
    swap_rows = []
    for name in sorted(pairs):
        by_probe.setdefault(name.split(":")[0], []).extend(pairs[name])
        agg = consistency(pairs[name], output_field, resamples, seed)
        swap_rows.append([name, agg.n, fmt(1 - agg.value) if agg.value is not None else None])
    rows, score_table, shown = [], [], []
    for probe, these in by_probe.items():
        agg = consistency(these, output_field, resamples, seed)
        changed = to_aggregate(1 - agg.value, 1 - agg.high, 1 - agg.low, agg.n)  # type: ignore[operator]
        metrics[f"change_rate[{probe}]"] = changed
        rows.append([probe, agg.n, fmt(changed.value), ci_text(changed)])
        score_table += score_rows(probe, these, resamples, seed, metrics, f"[{probe}]")
        shown += flips(probe, key, these, output_field, examples)
    tables = [
        Table(
            title="Counterfactual probes: how often the answer changes",
            columns=["probe", "n", "change rate", "95% CI"],
            rows=rows,
        ),
        Table(title="Counterfactual swaps", columns=["swap", "n", "change rate"], rows=swap_rows),
        Table(title="Scores original vs counterfactual", columns=PROBE_COLUMNS, rows=score_table),
    ]
    chart = Chart(
        title="Answer change rate per probe",
        labels=[r[0] for r in rows],
        series={"change rate": [r[2] for r in rows]},
    )
    return tables, [chart] if rows else [], shown


async def afairness(
    target: Any,
    records: RecordsLike,
    scorers: ScorersLike,
    *,
    runtime: Runtime,
    group_by: Sequence[str] = (),
    probes: Sequence[str] = (),
    field: str | None = None,
    output_field: str | None = None,
    min_group_size: int = 1,
    examples: int = 5,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    **options: Any,
) -> SuiteReport:
    """Scores per group of each metadata key in ``group_by`` and, with ``probes`` (any of
    ``names``, ``gender``, ``dialect``), counterfactual variants of ``inputs[field]``.

    ``options`` go to :func:`~llmloop.evaluation.aevaluate`.
    """
    keys, names = list(dict.fromkeys(group_by)), check_probes(list(probes))
    if not keys and not names:
        raise ValidationError("give group_by (metadata keys) or probes (names, gender, dialect)")
    if min_group_size < 1:
        raise ValidationError(f"min_group_size must be at least 1, got {min_group_size}")
    source = to_records(records)
    for key in keys:
        if not any(key in r.metadata for r in source):
            raise ValidationError(
                f"no record has metadata.{key} to group by; metadata keys present: "
                f"{sorted({k for r in source for k in r.metadata}) or 'none'}"
            )
    text_key = text_field(source, field) if names else None
    run, results = await run_records(
        target,
        expand(source, text_key, names),
        scorers,
        runtime=runtime,
        kind="fairness",
        options={**options, "resamples": resamples},
    )
    originals = [r for r in results if r.metadata.get(VARIANT) == CLEAN and r.error is None]
    metrics: dict[str, Aggregate] = {}
    tables: list[Table] = []
    charts: list[Chart] = []
    notes: list[str] = []
    shown: list[dict[str, Any]] = []
    for key in keys:
        t, c, n = group_report(
            originals, key, min_size=min_group_size, resamples=resamples, seed=seed, metrics=metrics
        )
        tables, charts, notes = tables + t, charts + c, notes + n
    if text_key is not None:
        t, c, shown = probe_report(
            results,
            text_key,
            output_field=output_field,
            examples=examples,
            resamples=resamples,
            seed=seed,
            metrics=metrics,
        )
        tables, charts = tables + t, charts + c
        probed = len(
            {r.metadata.get("suite.source") for r in results if r.metadata.get(VARIANT) != CLEAN}
        )
        notes.append(f"{probed} of {len(source)} records had something for the probes to swap")
    report = SuiteReport(
        kind="fairness",
        run_id=run.id,
        name=run.name,
        target=run.target,
        settings={
            "group_by": keys,
            "probes": names,
            "field": text_key,
            "output_field": output_field,
            "min_group_size": min_group_size,
            "records": len(source),
        },
        metrics=metrics,
        tables=tables,
        charts=charts,
        examples=shown,
        efficiency=efficiency(results, len(source)),
        notes=notes,
    )
    return await store_report(runtime, run, report)


def fairness(
    target: Any,
    records: RecordsLike,
    scorers: ScorersLike,
    *,
    runtime: Runtime | None = None,
    **options: Any,
) -> SuiteReport:
    """:func:`afairness` for code without an event loop."""
    return run_sync(afairness, target, records, scorers, runtime=runtime, **options)
