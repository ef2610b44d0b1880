"""Robustness: how a target's scores and answers hold up when its input is perturbed.

Each record is run clean and under each perturbation (see :mod:`.perturb`) in one stored
evaluation run. Per perturbation the report gives the consistency rate (the perturbed
answer equals the clean one) and every score clean vs perturbed on the same records,
with bootstrap intervals and a paired-bootstrap p-value, plus examples of flipped answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llmloop.evaluation.aggregates import score_values
from llmloop.evaluation.inputs import to_records
from llmloop.evaluation.statistics import DEFAULT_RESAMPLES, bootstrap_mean
from llmloop.evaluation.suites.perturb import (
    DEFAULT_PERTURBATIONS,
    PERTURBATIONS,
    check_perturbations,
    seeded,
)
from llmloop.evaluation.suites.report import (
    CLEAN,
    SOURCE,
    VARIANT,
    Chart,
    RecordsLike,
    ScorersLike,
    SuiteReport,
    Table,
    ci_text,
    clean,
    delta_aggregate,
    efficiency,
    fmt,
    interval,
    output_key,
    paired_mean_delta,
    run_records,
    run_sync,
    store_report,
    text_field,
    variant,
)
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.store.evaluations import Aggregate, EvalResult


def expand(
    records: Sequence[Record], key: str, perturbations: Sequence[str], seed: int
) -> list[Record]:
    """Each record clean, then under every perturbation that changes its text."""
    out = []
    for record in records:
        out.append(clean(record))
        text = record.inputs[key]
        for name in perturbations:
            new = PERTURBATIONS[name](text, seeded(seed, record.id, name))
            if new != text:
                out.append(variant(record, name, key, new))
    return out


def pairs_by_variant(
    results: Sequence[EvalResult],
) -> tuple[dict[str, EvalResult], dict[str, list[tuple[EvalResult, EvalResult]]]]:
    """Clean results by source id, and (clean, perturbed) pairs per variant name (pairs
    where either side errored are left out)."""
    clean_by_id = {
        r.metadata[SOURCE]: r
        for r in results
        if r.metadata.get(VARIANT) == CLEAN and r.error is None
    }
    pairs: dict[str, list[tuple[EvalResult, EvalResult]]] = {}
    for r in results:
        name = r.metadata.get(VARIANT)
        base = clean_by_id.get(r.metadata.get(SOURCE, ""))
        if name != CLEAN and base is not None and r.error is None:
            pairs.setdefault(str(name), []).append((base, r))
    return clean_by_id, pairs


def _example(
    name: str, key: str, base: EvalResult, other: EvalResult, field: str | None
) -> dict[str, Any]:
    deltas = {}
    for score in other.scores:
        before, after = base.value(score.name), score.numeric
        if before is not None and after is not None:
            deltas[score.name] = round(after - before, 4)
    return {
        "variant": name,
        "record_id": base.record_id,
        "clean_input": base.inputs.get(key),
        "variant_input": other.inputs.get(key),
        "clean_output": output_key(base.outputs, field),
        "variant_output": output_key(other.outputs, field),
        "score_deltas": deltas,
    }


def flips(
    name: str,
    key: str,
    pairs: Sequence[tuple[EvalResult, EvalResult]],
    field: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to ``limit`` pairs whose answer changed, those that lost score first."""
    changed = [
        (a, b) for a, b in pairs if output_key(a.outputs, field) != output_key(b.outputs, field)
    ]

    def loss(pair: tuple[EvalResult, EvalResult]) -> float:
        a, b = pair
        return sum(
            (a.value(s.name) or 0.0) - (s.numeric or 0.0) for s in b.scores if s.numeric is not None
        )

    changed.sort(key=loss, reverse=True)
    return [_example(name, key, a, b, field) for a, b in changed[:limit]]


def consistency(
    pairs: Sequence[tuple[EvalResult, EvalResult]], field: str | None, resamples: int, seed: int
) -> Aggregate:
    same = [output_key(a.outputs, field) == output_key(b.outputs, field) for a, b in pairs]
    return interval(bootstrap_mean(np.array(same, float), resamples=resamples, seed=seed))


def score_rows(
    label: str,
    pairs: Sequence[tuple[EvalResult, EvalResult]],
    resamples: int,
    seed: int,
    metrics: dict[str, Aggregate],
    suffix: str,
) -> list[list[Any]]:
    """Rows of (label, score, n, clean, perturbed, delta, CI, p) and the metrics they add."""
    rows = []
    base = score_values([a for a, _ in pairs])
    other = score_values([b for _, b in pairs])
    for score in sorted(base.keys() & other.keys()):
        keep = ~np.isnan(base[score]) & ~np.isnan(other[score])
        if not keep.any():
            continue
        a, b = base[score][keep], other[score][keep]
        delta = paired_mean_delta(a, b, resamples=resamples, seed=seed)
        perturbed = interval(bootstrap_mean(b, resamples=resamples, seed=seed))
        metrics[f"{score}.perturbed{suffix}"] = perturbed
        metrics[f"{score}.delta{suffix}"] = delta_aggregate(delta)
        agg = delta_aggregate(delta)
        rows.append(
            [
                label,
                score,
                int(keep.sum()),
                fmt(delta.baseline),
                fmt(delta.candidate),
                fmt(delta.delta),
                ci_text(agg),
                fmt(delta.p_value),
            ]
        )
    return rows


SCORE_COLUMNS = ["variant", "score", "n", "clean", "perturbed", "delta", "delta 95% CI", "p"]


async def arobustness(
    target: Any,
    records: RecordsLike,
    scorers: ScorersLike,
    *,
    runtime: Runtime,
    field: str | None = None,
    perturbations: Sequence[str] = DEFAULT_PERTURBATIONS,
    output_field: str | None = None,
    seed: int = 0,
    examples: int = 5,
    resamples: int = DEFAULT_RESAMPLES,
    **options: Any,
) -> SuiteReport:
    """Run ``target`` on ``records`` clean and under each perturbation of ``inputs[field]``;
    store the run and return the report.

    ``output_field`` is the output compared for consistency (default: ``label`` when the
    outputs have one, else ``text``). ``options`` go to
    :func:`~llmloop.evaluation.aevaluate` (``project``, ``name``, ``concurrency`` …).
    """
    names = check_perturbations(list(perturbations))
    source = to_records(records)
    key = text_field(source, field)
    expanded = expand(source, key, names, seed)
    run, results = await run_records(
        target,
        expanded,
        scorers,
        runtime=runtime,
        kind="robustness",
        options={**options, "resamples": resamples},
    )
    _, pairs = pairs_by_variant(results)
    everything = [p for name in names for p in pairs.get(name, [])]
    metrics: dict[str, Aggregate] = {}
    if everything:
        metrics["consistency"] = consistency(everything, output_field, resamples, seed)
    summary, score_table, shown, chart = [], [], [], {"consistency": []}  # type: ignore[var-annotated]
    for name in names:
        these = pairs.get(name, [])
        agg = consistency(these, output_field, resamples, seed) if these else None
        if agg is not None:
            metrics[f"consistency[{name}]"] = agg
        chart["consistency"].append(agg.value if agg else None)
        summary.append(
            [name, len(these), fmt(agg.value) if agg else None, ci_text(agg) if agg else "-"]
        )
        score_table += score_rows(name, these, resamples, seed, metrics, f"[{name}]")
        shown += flips(name, key, these, output_field, examples)
    score_table += score_rows("all", everything, resamples, seed, metrics, "")
    for row in score_table:
        if row[0] == "all":
            continue
        chart.setdefault(f"{row[1]} (perturbed)", [None] * len(names))
        chart[f"{row[1]} (perturbed)"][names.index(row[0])] = row[4]
    report = SuiteReport(
        kind="robustness",
        run_id=run.id,
        name=run.name,
        target=run.target,
        settings={
            "field": key,
            "perturbations": names,
            "output_field": output_field,
            "seed": seed,
            "records": len(source),
        },
        metrics=metrics,
        tables=[
            Table(
                title="Consistency with the clean answer",
                columns=["perturbation", "n", "consistency", "95% CI"],
                rows=summary,
            ),
            Table(title="Scores clean vs perturbed", columns=SCORE_COLUMNS, rows=score_table),
        ],
        charts=[Chart(title="Under each perturbation", labels=names, series=chart)],
        examples=shown,
        efficiency=efficiency(results, len(source)),
        notes=[
            f"{len(source) * len(names) - sum(len(pairs.get(n, [])) for n in names)} "
            "perturbed variants were left out (the perturbation did not change the text, "
            "or the clean or perturbed call errored)"
        ],
    )
    return await store_report(runtime, run, report)


def robustness(
    target: Any,
    records: RecordsLike,
    scorers: ScorersLike,
    *,
    runtime: Runtime | None = None,
    **options: Any,
) -> SuiteReport:
    """:func:`arobustness` for code without an event loop."""
    return run_sync(arobustness, target, records, scorers, runtime=runtime, **options)
