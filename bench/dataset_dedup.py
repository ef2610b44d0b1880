"""Near-duplicate detection: MinHash + LSH against exhaustive pairwise Jaccard.

Baseline in the same run: every pair's exact Jaccard similarity of character 5-gram
shingles (what MinHash estimates), the ground truth for pairs at or above the threshold.
Then llmloop's MinHash/LSH (128 permutations): time, speed-up, and recall/precision of the
near-duplicate pairs it groups. A larger corpus shows how LSH scales (no baseline there:
the exhaustive pass would take too long).
"""

from __future__ import annotations

import itertools
import random
import time

from benchlib import save

from llmloop.data.dedup import near_duplicates, record_text, shingles
from llmloop.records import Record

THRESHOLD = 0.8
WORDS = [f"w{i}" for i in range(400)] + ["refund", "order", "parcel", "late", "password"]


def corpus(n: int, dup_share: float, seed: int) -> list[Record]:
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(n):
        if texts and rng.random() < dup_share:
            words = rng.choice(texts).split()
            edit = rng.randrange(3)
            if edit == 0:
                words[rng.randrange(len(words))] = rng.choice(WORDS)
            elif edit == 1:
                words.append(rng.choice(WORDS))
            texts.append((" ".join(words) + "!").upper() if edit == 2 else " ".join(words))
        else:
            texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 40))))
    return [Record(id=f"r{i}", inputs={"text": t}) for i, t in enumerate(texts)]


def exact_pairs(records: list[Record]) -> set[tuple[str, str]]:
    sets = [(r.id, shingles(record_text(r))) for r in records]
    found = set()
    for (ia, a), (ib, b) in itertools.combinations(sets, 2):
        if len(a & b) / len(a | b) >= THRESHOLD:
            found.add((ia, ib))
    return found


def lsh_pairs(records: list[Record]) -> set[tuple[str, str]]:
    order = {r.id: i for i, r in enumerate(records)}
    pairs = set()
    for group in near_duplicates(records, threshold=THRESHOLD):
        for a, b in itertools.combinations(sorted(group.record_ids, key=order.__getitem__), 2):
            pairs.add((a, b))
    return pairs


def main() -> None:
    rows = []
    records = corpus(1500, 0.15, seed=1)
    start = time.perf_counter()
    truth = exact_pairs(records)
    exact_s = time.perf_counter() - start
    start = time.perf_counter()
    found = lsh_pairs(records)
    lsh_s = time.perf_counter() - start
    hits = len(found & truth)
    rows.append({"method": "exhaustive Jaccard (baseline)", "records": len(records),
                 "seconds": round(exact_s, 3), "speedup": 1.0, "pairs": len(truth),
                 "recall": 1.0, "precision": 1.0})  # fmt: skip
    rows.append({"method": "MinHash+LSH (128 perm)", "records": len(records),
                 "seconds": round(lsh_s, 3), "speedup": round(exact_s / lsh_s, 1),
                 "pairs": len(found), "recall": round(hits / max(1, len(truth)), 4),
                 "precision": round(hits / max(1, len(found)), 4)})  # fmt: skip
    big = corpus(20_000, 0.15, seed=2)
    start = time.perf_counter()
    groups = near_duplicates(big, threshold=THRESHOLD)
    rows.append({"method": "MinHash+LSH (128 perm)", "records": len(big),
                 "seconds": round(time.perf_counter() - start, 3),
                 "groups": len(groups)})  # fmt: skip
    for row in rows:
        print(row)
    notes = (
        f"Threshold {THRESHOLD} on character 5-gram shingles of the normalised input text. "
        "Pairs from LSH are all pairs inside a group (transitive), so precision counts a "
        "chained pair below the threshold as a false positive."
    )
    print(save("dataset_dedup", rows, notes=notes))


if __name__ == "__main__":
    main()
