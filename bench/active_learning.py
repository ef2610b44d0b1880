"""Active learning: labels needed to reach 95% of the full-data accuracy, per strategy.

Data: ``../shared/datasets/spam/spamassassin.jsonl.gz`` (6,046 mails, ham/spam) and a
fixed random sample of 10,000 tweets from ``../shared/datasets/sentiment/tweets.jsonl.gz``
(negative/neutral/positive). The model is the local text model's family: TF-IDF word
1-2-grams (fitted once on the texts, no labels) and a logistic regression (C=10) refitted
from scratch on the labeled records every round. Diversity strategies (``k_center``,
``hybrid``) measure distance on a 64-dimension LSA projection of the same TF-IDF;
``disagreement`` is the vote entropy of a three-model bootstrap committee.

For each seed, :func:`llmloop.labeling.simulation.simulate` holds out 30% as the test
split, starts every strategy from the same random seed set and adds a batch per round.
The target is 95% of the accuracy of a model trained on the whole pool (same split); a
strategy's cost is the first label count whose test accuracy reaches it (a curve that
never does counts as its last label count and is flagged). Saving = 1 - strategy labels
/ random labels, per seed, then mean ± sd. ``--quick`` runs one seed of the spam set.
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from benchlib import RESULTS, save
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from llmloop.labeling.simulation import (
    Classifier,
    full_data_accuracy,
    labels_to_reach,
    simulate,
)

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "datasets"
STRATEGIES = ("entropy", "margin", "least_confidence", "disagreement", "k_center", "hybrid")
TARGET_SHARE = 0.95
MAX_CHARS = 3000


@dataclass(frozen=True)
class Task:
    name: str
    path: Path
    sample: int | None
    initial: int
    batch: int
    rounds: int


TASKS = (
    Task("spam", SHARED / "spam" / "spamassassin.jsonl.gz", None, 20, 20, 30),
    Task("tweets", SHARED / "sentiment" / "tweets.jsonl.gz", 10_000, 50, 100, 30),
)


def model() -> Classifier:
    return LogisticRegression(C=10.0, max_iter=1000)


def load(task: Task) -> tuple[list[str], npt.NDArray[Any]]:
    with gzip.open(task.path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    if task.sample is not None:
        order = np.random.default_rng(0).permutation(len(rows))[: task.sample]
        rows = [rows[i] for i in order]
    return [r["text"][:MAX_CHARS] for r in rows], np.array([r["label"] for r in rows])


def features(texts: list[str]) -> tuple[Any, npt.NDArray[np.float64]]:
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), max_features=30_000)
    X = tfidf.fit_transform(texts)
    dense = TruncatedSVD(64, random_state=0).fit_transform(X)
    dense /= np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)
    return X, dense


def run_seed(task: Task, X: Any, dense: Any, y: Any, seed: int) -> dict[str, Any]:
    ceiling = full_data_accuracy(X, y, make_model=model, seed=seed)
    target = TARGET_SHARE * ceiling
    started = time.perf_counter()
    curves = simulate(
        X, y, strategies=STRATEGIES, initial=task.initial, batch=task.batch,
        rounds=task.rounds, make_model=model, embeddings=dense, committee=3, seed=seed,
    )  # fmt: skip
    needed: dict[str, int] = {}
    reached: dict[str, bool] = {}
    for name, curve in curves.items():
        count = labels_to_reach(curve, target)
        reached[name] = count is not None
        needed[name] = count if count is not None else curve.labels[-1]
    return {
        "seed": seed,
        "full_accuracy": ceiling,
        "target": target,
        "needed": needed,
        "reached": reached,
        "seconds": time.perf_counter() - started,
        "curves": {n: {"labels": c.labels, "accuracy": c.accuracy} for n, c in curves.items()},
    }


def _mean_sd(values: list[float]) -> tuple[float, float]:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), sd


def summarise(task: Task, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    full_mean, full_sd = _mean_sd([r["full_accuracy"] for r in runs])
    for name in ("random", *STRATEGIES):
        labels = [float(r["needed"][name]) for r in runs]
        savings = [1 - r["needed"][name] / r["needed"]["random"] for r in runs]
        mean, sd = _mean_sd(labels)
        saving, saving_sd = _mean_sd(savings)
        rows.append(
            {
                "dataset": task.name,
                "strategy": name,
                "full_accuracy": f"{full_mean:.4f} ± {full_sd:.4f}",
                "labels_to_95pct": f"{mean:.0f} ± {sd:.0f}",
                "labels_mean": round(mean, 1),
                "saving_vs_random": f"{saving:.1%} ± {saving_sd:.1%}",
                "saving_mean": round(saving, 4),
                "all_seeds_reached": all(r["reached"][name] for r in runs),
            }
        )
    return rows


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    seeds = [0] if quick else [0, 1, 2, 3, 4]
    tasks = TASKS[:1] if quick else TASKS
    missing = [t.path for t in tasks if not t.path.exists()]
    if missing:
        print(f"skipped: data not found at {', '.join(map(str, missing))}")
        return 0
    rows: list[dict[str, Any]] = []
    curves: dict[str, Any] = {}
    for task in tasks:
        texts, y = load(task)
        X, dense = features(texts)
        runs = []
        for seed in seeds:
            run = run_seed(task, X, dense, y, seed)
            print(f"{task.name} seed {seed}: {run['needed']} ({run['seconds']:.0f} s)", flush=True)
            runs.append(run)
        rows += summarise(task, runs)
        curves[task.name] = [{k: r[k] for k in ("seed", "target", "curves")} for r in runs]
    best = {
        task.name: max(
            (r for r in rows if r["dataset"] == task.name and r["strategy"] != "random"),
            key=lambda r: r["saving_mean"],
        )
        for task in tasks
    }
    notes = "Best strategy per dataset (target: >= 30% fewer labels than random): " + "; ".join(
        f"{name}: {r['strategy']} {r['saving_vs_random']}" for name, r in best.items()
    )
    if not quick:
        save("active_learning", rows, notes=notes)
        (RESULTS / "active_learning_curves.json").write_text(json.dumps(curves) + "\n")
    for row in rows:
        print(row)
    print(notes)
    return 0


if __name__ == "__main__":
    # one BLAS thread: the fits are small, and threads only contend for the cores
    with threadpool_limits(limits=1):
        sys.exit(main(sys.argv[1:]))
