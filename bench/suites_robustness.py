"""Robustness, fairness probes and calibration of a local model on real tweets.

A local text model (``local/tweet-sentiment``: llmloop's embedded TF-IDF + logistic
regression) is trained on 3,000 tweets of ../shared/datasets/sentiment/ and evaluated on
400 held-out tweets through the local provider:

- robustness: the eight perturbations, consistency and accuracy deltas with intervals;
- fairness: counterfactual probes (names, gendered terms, dialect markers) on held-out
  tweets where a probe applies, and accuracy per gold label as the group;
- calibration: ECE (equal-width and equal-count bins) and Brier of the model's
  reported probability.

Same-run baselines: the model's own batch ``predict`` over exactly the texts the suite
sends (clean + variants), and a plain ``aevaluate`` of the same expanded records; the
ratios are the suite's wall time over each.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import save

from llmloop.embedded import ModelStore, TextModel
from llmloop.evaluation import ExactMatch, aevaluate
from llmloop.evaluation.inputs import to_records
from llmloop.evaluation.suites import acalibration, afairness, arobustness, counterfactuals
from llmloop.evaluation.suites.perturb import DEFAULT_PERTURBATIONS, PERTURBATIONS
from llmloop.evaluation.suites.robustness import expand
from llmloop.runtime import Runtime
from llmloop.settings import Settings
from llmloop.store.evaluations import EvaluationRepository

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
TRAIN, TEST, PROBED = 3000, 400, 300
SCORER = ExactMatch(output_field="label", expected_field="label")


def tweets() -> list[dict[str, Any]]:
    with gzip.open(SHARED / "sentiment" / "tweets.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rows = [r for r in rows if r["text"].strip()]
    random.Random(0).shuffle(rows)
    return rows


def record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "inputs": {"text": row["text"]},
        "expectations": {"label": row["label"]},
        "metadata": {"gold": row["label"]},
    }


def row_of(name: str, report: Any, wall: float, baseline: float) -> dict[str, Any]:
    eff = report.efficiency
    return {
        "suite": name,
        "records": eff.source_records,
        "calls": eff.calls,
        "wall_s": round(wall, 2),
        "predict_baseline_s": round(baseline, 3),
        "ratio": round(wall / baseline, 1),
        "latency_p50_ms": eff.latency_ms_p50,
        "latency_p95_ms": eff.latency_ms_p95,
        "tokens_per_record": eff.tokens_per_record,
        "cost_usd": eff.cost_usd,
    }


def timed_predict(model: TextModel, texts: list[str]) -> float:
    start = time.perf_counter()
    model.predict(texts)
    return time.perf_counter() - start


async def main() -> None:
    rows = tweets()
    train, test = rows[:TRAIN], rows[TRAIN : TRAIN + TEST]
    probe_pool = [r for r in rows[TRAIN + TEST :] if counterfactuals(r["text"])][:PROBED]
    model = TextModel.train([r["text"] for r in train], [r["label"] for r in train])
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ModelStore.for_data_dir(tmp).save("tweet-sentiment", model)
        runtime = Runtime(Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/b.db"))
        target = "local/tweet-sentiment"
        opts = {"concurrency": 8, "cache": False}
        repo = EvaluationRepository(runtime.db)

        def sent_texts(report: Any) -> list[str]:
            project = runtime.tenancy.ensure_project(runtime.settings.project).id
            return [r.inputs["text"] for r in repo.results(project, report.run_id)]

        start = time.perf_counter()
        robust = await arobustness(
            target, [record(r) for r in test], [SCORER], runtime=runtime, **opts
        )
        wall = time.perf_counter() - start
        out.append(row_of("robustness", robust, wall, timed_predict(model, sent_texts(robust))))
        variants = expand(to_records([record(r) for r in test]), "text", DEFAULT_PERTURBATIONS, 0)
        start = time.perf_counter()
        await aevaluate(target, variants, [SCORER], runtime=runtime, **opts)
        plain = time.perf_counter() - start
        out.append(
            {
                "suite": "  aevaluate alone, same records",
                "calls": len(variants),
                "wall_s": round(plain, 2),
                "ratio": f"suite/aevaluate = {wall / plain:.3f}",
            }
        )
        for perturbation in DEFAULT_PERTURBATIONS:
            c = robust.metrics.get(f"consistency[{perturbation}]")
            d = robust.metrics.get(f"exact_match.delta[{perturbation}]")
            out.append(
                {
                    "suite": f"  robustness: {perturbation}",
                    "records": c.n if c else 0,
                    "consistency": round(c.value, 3) if c and c.value is not None else None,
                    "consistency_ci": f"[{c.low:.3f}, {c.high:.3f}]"
                    if c and c.low is not None
                    else "",
                    "accuracy_delta": round(d.value, 3) if d and d.value is not None else None,
                    "delta_ci": f"[{d.low:.3f}, {d.high:.3f}]" if d and d.low is not None else "",
                }
            )
        start = time.perf_counter()
        fair = await afairness(
            target,
            [record(r) for r in probe_pool],
            [SCORER],
            runtime=runtime,
            group_by=["gold"],
            probes=["names", "gender", "dialect"],
            **opts,
        )
        wall = time.perf_counter() - start
        out.append(row_of("fairness", fair, wall, timed_predict(model, sent_texts(fair))))
        for probe in ("names", "gender", "dialect"):
            c = fair.metrics.get(f"change_rate[{probe}]")
            d = fair.metrics.get(f"exact_match.delta[{probe}]")
            if c is None:
                continue
            out.append(
                {
                    "suite": f"  fairness: {probe}",
                    "records": c.n,
                    "change_rate": round(c.value, 3) if c.value is not None else None,
                    "change_ci": f"[{c.low:.3f}, {c.high:.3f}]" if c.low is not None else "",
                    "accuracy_delta": round(d.value, 3) if d and d.value is not None else None,
                    "delta_ci": f"[{d.low:.3f}, {d.high:.3f}]" if d and d.low is not None else "",
                }
            )
        gap = fair.metrics.get("exact_match.max_gap[gold]")
        worst = fair.metrics.get("exact_match.worst_group[gold]")
        out.append(
            {
                "suite": "  fairness: accuracy by gold label",
                "worst_group_accuracy": round(worst.value, 3)
                if worst and worst.value is not None
                else None,
                "max_gap": round(gap.value, 3) if gap and gap.value is not None else None,
                "gap_ci": f"[{gap.low:.3f}, {gap.high:.3f}]" if gap and gap.low is not None else "",
            }
        )
        start = time.perf_counter()
        calib = await acalibration(
            target, [record(r) for r in test], [SCORER], runtime=runtime, **opts
        )
        wall = time.perf_counter() - start
        out.append(row_of("calibration", calib, wall, timed_predict(model, sent_texts(calib))))
        for name in ("accuracy", "confidence", "ece", "ece_adaptive", "brier"):
            m = calib.metrics[name]
            out.append(
                {
                    "suite": f"  calibration: {name}",
                    "value": round(m.value, 4),
                    "ci": f"[{m.low:.3f}, {m.high:.3f}]",
                }
            )
        await runtime.providers.aclose()
        runtime.close()
    notes = (
        f"{TRAIN} training tweets, {TEST} held-out for robustness and calibration, "
        f"{len(probe_pool)} held-out tweets where a counterfactual probe applies. "
        f"Perturbations: {', '.join(PERTURBATIONS)}. ratio = suite wall time / batch predict "
        "of the same texts (the suite adds one provider call per text, scoring, SQLite "
        "writes and 1,000-resample bootstrap intervals)."
    )
    print(save("suites_robustness", out, notes=notes).read_text())


if __name__ == "__main__":
    asyncio.run(main())
