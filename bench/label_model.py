"""Label model: llmloop's LabelModel against majority vote and Snorkel 0.10, same run.

Matrices (from ``$LLMLOOP_BENCH_DATA``, default ``../shared/bench/data`` next to the repo):

* ``spam_label_matrix.npz`` — 13 keyword/heuristic functions on SpamAssassin (6,046 mails);
* ``synthetic_label_matrix.npz`` — 1,000,000 x 20, known accuracies, 30% positives;
* ``tweets`` — built here from ``../shared/datasets/sentiment/tweets.jsonl.gz`` with nine
  keyword/regex functions written up front (3 classes), applied with llmloop's own
  ``apply_labeling_functions``: a matrix nobody tuned the model on.

Accuracy is on covered rows (at least one vote), ties broken at random (seed 123), as in
the peers' measurement. Snorkel runs in its own virtualenv through a subprocess
(``$SNORKEL_PYTHON``, default ``/tmp/snorkel-venv/bin/python``) with the peers' settings
(500 epochs, lr 0.01, seed 123); without it Snorkel is reported as unavailable. Without
the data the benchmark is skipped with a message.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from benchlib import save

from llmloop.labeling import (
    LabelModel,
    apply_labeling_functions,
    keyword_lf,
    majority_vote,
    regex_lf,
)
from llmloop.records import Record

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
DATA = Path(os.environ.get("LLMLOOP_BENCH_DATA", SHARED / "bench" / "data"))
TWEETS = SHARED / "datasets" / "sentiment" / "tweets.jsonl.gz"
SNORKEL_PYTHON = Path(os.environ.get("SNORKEL_PYTHON", "/tmp/snorkel-venv/bin/python"))
SEED = 123

SNORKEL_SCRIPT = """
import json, sys, time
import numpy as np
from snorkel.labeling.model import LabelModel, MajorityLabelVoter
d = np.load(sys.argv[1]); L, y, k = d["L"], d["y"], int(d["k"])
covered = (L != -1).any(1)
out = {}
t0 = time.perf_counter()
mv = MajorityLabelVoter(cardinality=k).predict(L, tie_break_policy="random")
out["snorkel_majority_vote"] = {"seconds": time.perf_counter() - t0, "pred": mv}
LabelModel(cardinality=k, verbose=False).fit(L[:1000], n_epochs=10, progress_bar=False)  # warm-up
lm = LabelModel(cardinality=k, verbose=False)
t0 = time.perf_counter()
lm.fit(L, n_epochs=500, lr=0.01, log_freq=100, seed=123, progress_bar=False)
fit_s = time.perf_counter() - t0
out["snorkel_label_model"] = {"seconds": fit_s,
                              "pred": lm.predict(L, tie_break_policy="random")}
print(json.dumps({name: {"seconds": r["seconds"],
                         "accuracy": float((r["pred"][covered] == y[covered]).mean()),
                         "pred_positive": int((r["pred"][covered] == 1).sum())}
                  for name, r in out.items()}))
"""

TWEET_CLASSES = ["negative", "neutral", "positive"]


def tweet_functions() -> list[Any]:
    """Written before looking at any per-function figure; not tuned afterwards."""
    pos_words = ["love", "loved", "great", "awesome", "amazing", "thanks", "thank you"]
    pos_words += ["best", "excellent", "happy", "nice", "cool"]
    neg_words = "hate worst terrible awful bad sucks annoying angry disappointed fail failed broken"
    service = "delayed delay cancelled canceled lost waiting hold rude refund never"
    negation = "not no can't cannot won't don't doesn't didn't"
    return [
        keyword_lf("pos_words", pos_words, "positive"),
        regex_lf("pos_emoticon", r"(:\)|:-\)|:d\b|<3|;\))", "positive"),
        keyword_lf("neg_words", neg_words.split(), "negative"),
        keyword_lf("neg_service", service.split(), "negative"),
        regex_lf("neg_emoticon", r"(:\(|:-\(|:/|\bugh\b|\bwtf\b)", "negative"),
        regex_lf("question", r"\?\s*$", "neutral"),
        regex_lf("link_or_news", r"https?://|\bvia\b|\brt @", "neutral"),
        keyword_lf("negation", negation.split(), "negative"),
        regex_lf("exclaim_pos", r"!{2,}", "positive"),
    ]


def tweets_matrix() -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int64], float] | None:
    if not TWEETS.exists():
        return None
    with gzip.open(TWEETS, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    records = [Record(id=str(r["id"]), inputs={"text": r["text"]}) for r in rows]
    start = time.perf_counter()
    matrix = apply_labeling_functions(tweet_functions(), records, TWEET_CLASSES)
    apply_s = time.perf_counter() - start
    y = np.array([TWEET_CLASSES.index(r["label"]) for r in rows])
    return matrix.values, y, apply_s


def macro_f1(pred: npt.NDArray[Any], y: npt.NDArray[Any], k: int) -> float:
    scores = []
    for c in range(k):
        tp = int(((pred == c) & (y == c)).sum())
        fp = int(((pred == c) & (y != c)).sum())
        fn = int(((pred != c) & (y == c)).sum())
        scores.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(scores))


def run_snorkel(L: npt.NDArray[Any], y: npt.NDArray[Any], k: int) -> dict[str, Any] | str:
    if not SNORKEL_PYTHON.exists():
        return f"unavailable: no {SNORKEL_PYTHON} (set SNORKEL_PYTHON)"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matrix.npz"
        np.savez(path, L=L, y=y, k=k)
        done = subprocess.run(
            [str(SNORKEL_PYTHON), "-c", SNORKEL_SCRIPT, str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(name: str, L: npt.NDArray[Any], y: npt.NDArray[Any], k: int) -> list[dict[str, Any]]:
    covered = (L != -1).any(axis=1)
    shape = f"{name} {L.shape[0]}x{L.shape[1]}"
    found: dict[str, tuple[float, float | None, float]] = {}  # accuracy, seconds, macro F1

    def score(pred: npt.NDArray[Any]) -> tuple[float, float]:
        return float((pred[covered] == y[covered]).mean()), macro_f1(pred[covered], y[covered], k)

    start = time.perf_counter()
    vote = majority_vote(L, k, tie_break="random", seed=SEED)
    vote_s = time.perf_counter() - start
    acc, f1 = score(vote)
    found["majority_vote (baseline)"] = (acc, vote_s, f1)
    for balance in ("votes", "learn"):
        LabelModel(k, class_balance=balance).fit(L[:1000])  # warm-up, as for Snorkel
        times = []
        for _ in range(3):
            start = time.perf_counter()
            model = LabelModel(k, class_balance=balance).fit(L)
            times.append(time.perf_counter() - start)
        fit_s = float(np.median(times))
        acc, f1 = score(model.predict(L, tie_break="random", seed=SEED))
        label = "llmloop_label_model" + ("" if balance == "votes" else " (class_balance=learn)")
        found[label] = (acc, fit_s, f1)
    snorkel = run_snorkel(L, y, k)
    if isinstance(snorkel, str):
        print(f"  snorkel {snorkel}", flush=True)
    else:
        for method, r in snorkel.items():
            found[method] = (r["accuracy"], r["seconds"], float("nan"))
    base_acc = found["majority_vote (baseline)"][0]
    snorkel_fit = None if isinstance(snorkel, str) else snorkel["snorkel_label_model"]["seconds"]
    rows = []
    for method, (acc, seconds, f1) in found.items():
        speedup = (
            f"{snorkel_fit / seconds:.1f}x"
            if snorkel_fit and seconds and method.startswith("llmloop")
            else ""
        )
        rows.append(
            {
                "matrix": shape,
                "method": method,
                "coverage": f"{covered.mean():.3f}",
                "accuracy (covered)": f"{acc:.4f}",
                "vs majority vote": f"{acc - base_acc:+.4f}",
                "macro F1 (covered)": "" if np.isnan(f1) else f"{f1:.4f}",
                "fit s": "" if seconds is None else f"{seconds:.3f}",
                "Snorkel fit time / ours": speedup,
            }
        )
        print(f"  {method:42s} acc {acc:.4f}  fit {seconds or 0:.3f}s  {speedup}", flush=True)
    return rows


def main() -> int:
    spam, synthetic = DATA / "spam_label_matrix.npz", DATA / "synthetic_label_matrix.npz"
    if not spam.exists() or not synthetic.exists():
        print(f"skipped: the label matrices are not in {DATA} (set LLMLOOP_BENCH_DATA)")
        return 0
    rows: list[dict[str, Any]] = []
    for name, path in (("spam", spam), ("synthetic", synthetic)):
        data = np.load(path)
        print(f"== {name} {data['L'].shape}", flush=True)
        rows += measure(name, data["L"], data["y"], 2)
    tweets = tweets_matrix()
    if tweets is None:
        print(f"tweets skipped: {TWEETS} not found")
    else:
        L, y, apply_s = tweets
        print(f"== tweets {L.shape} (9 functions applied in {apply_s:.2f}s)", flush=True)
        rows += measure("tweets", L, y, 3)
    notes = (
        "Accuracy on covered rows, ties at random (seed 123); Snorkel 0.10 LabelModel with "
        "500 epochs, lr 0.01, seed 123, in its own venv, same machine and run. Fit times "
        "after a warm-up fit on 1,000 rows: ours the median of 3 fits, Snorkel's one fit. "
        "llmloop_label_model = default settings (class balance from the votes)."
    )
    path = save("label_model", rows, notes=notes)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
