"""Label errors on SpamAssassin: confident learning against a model-disagreement baseline.

Labels of 5% of the emails in ``../shared/datasets/spam/`` are flipped (seeded). The local
text model is fitted with 5-fold cross-validation for out-of-fold probabilities; then
llmloop's flagger (``cleanlab.filter.find_label_issues``, confident learning) and, as
the baseline in the same run on the same probabilities, "flag every record whose
out-of-fold prediction differs from its label". Reports precision and recall of the
flags against the flipped records and the seconds of each step.
"""

from __future__ import annotations

import gzip
import json
import random
import time
from pathlib import Path

import numpy as np
from benchlib import save

from llmloop.annotation.label_errors import MAX_TEXT_CHARS, find_issues, out_of_fold_probs
from llmloop.embedded.text_model import TextModelConfig

DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "datasets" / "spam" / "spamassassin.jsonl.gz"
)
FLIP_SHARE = 0.05
SEED = 11
# emails are long: word 1-2 grams and character 3-5 grams, capped, keep a fold fit in seconds
CONFIG = TextModelConfig(char_ngrams=(3, 5), max_features=100_000)


def load() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts.append(row["text"][:MAX_TEXT_CHARS])
            labels.append(row["label"])
    return texts, labels


def scores(flagged: set[int], flipped: set[int]) -> dict[str, float]:
    hits = len(flagged & flipped)
    precision = hits / len(flagged) if flagged else 0.0
    recall = hits / len(flipped)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"flagged": len(flagged), "true_flags": hits, "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(f1, 4)}  # fmt: skip


def main() -> None:
    texts, truth = load()
    rng = random.Random(SEED)
    flipped = set(rng.sample(range(len(texts)), round(len(texts) * FLIP_SHARE)))
    labels = [("ham" if t == "spam" else "spam") if i in flipped else t
              for i, t in enumerate(truth)]  # fmt: skip
    start = time.perf_counter()
    probs, classes = out_of_fold_probs(texts, labels, folds=5, seed=SEED, config=CONFIG)
    fit_s = time.perf_counter() - start
    codes = np.array([classes.index(label) for label in labels])

    start = time.perf_counter()
    baseline = {int(i) for i in np.flatnonzero(probs.argmax(axis=1) != codes)}
    baseline_s = time.perf_counter() - start
    start = time.perf_counter()
    confident = {i for i, _, _ in find_issues(labels, probs, classes)}
    cl_s = time.perf_counter() - start

    common = {"records": len(texts), "flipped": len(flipped)}
    base_row = {"method": "prediction != label (baseline)", **common,
                **scores(baseline, flipped), "seconds": round(baseline_s, 4)}  # fmt: skip
    cl_row = {"method": "confident learning (cleanlab)", **common,
              **scores(confident, flipped), "seconds": round(cl_s, 4)}  # fmt: skip
    cl_row["precision_vs_baseline"] = round(
        cl_row["precision"] / max(base_row["precision"], 1e-9), 3
    )
    oof_row = {"method": "out-of-fold probabilities (5-fold local text model)", **common,
               "seconds": round(fit_s, 2),
               "oof_accuracy_vs_truth": round(float(np.mean(
                   [classes[int(p)] == t for p, t in zip(probs.argmax(axis=1), truth, strict=True)]
               )), 4)}  # fmt: skip
    rows = [oof_row, base_row, cl_row]
    for row in rows:
        print(row)
    notes = (
        f"{FLIP_SHARE:.0%} of labels flipped (seed {SEED}); emails cut to {MAX_TEXT_CHARS} "
        "characters; both flaggers read the same out-of-fold probabilities."
    )
    print(save("label_errors", rows, notes=notes))


if __name__ == "__main__":
    main()
