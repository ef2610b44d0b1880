"""Exact and near-duplicate detection: content hashes, and MinHash with LSH banding.

Near duplicates are records whose input texts share most of their character shingles:
the Jaccard similarity of the shingle sets is estimated with MinHash signatures, LSH
bands propose candidate pairs, and pairs whose estimate reaches the threshold are
joined into groups (union-find). Deterministic: the hash functions come from a seed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from pydantic import Field

from llmloop.records import Frozen, Record

MERSENNE = np.uint64((1 << 61) - 1)
MAX_HASH = np.uint64((1 << 32) - 1)
_POWERS = np.array([pow(1_000_003, k, 1 << 32) for k in range(16)], dtype=np.uint64)
_NOT_WORD = re.compile(r"[\W_]+")


class DuplicateGroup(Frozen):
    kind: str = Field(description="'exact' (same content) or 'near' (similar inputs).")
    record_ids: list[str] = Field(description="In dataset order; the first is kept by dedup.")
    similarity: float = Field(description="Lowest estimated Jaccard similarity to the first.")


def record_text(record: Record) -> str:
    """The inputs as one normalised text: values in key order, lower-case, punctuation and
    runs of spaces as one space."""
    parts = [str(record.inputs[key]) for key in sorted(record.inputs)]
    return _NOT_WORD.sub(" ", " ".join(parts).lower()).strip()


def shingles(text: str, size: int = 5) -> set[bytes]:
    data = text.encode()
    if len(data) <= size:
        return {data}
    return {data[i : i + size] for i in range(len(data) - size + 1)}


def shingle_hashes(text: str, size: int = 5) -> np.ndarray:
    """32-bit hashes of the distinct byte ``size``-grams of ``text`` (vectorised)."""
    data = np.frombuffer(text.encode(), dtype=np.uint8).astype(np.uint64)
    if len(data) < size:
        data = np.concatenate([data, np.zeros(size - len(data), dtype=np.uint64)])
    windows = np.lib.stride_tricks.sliding_window_view(data, size)
    hashed = (windows * _POWERS[:size]).sum(axis=1) & MAX_HASH
    mixed = (hashed * np.uint64(0x9E3779B1) + np.uint64(0x7F4A7C15)) & MAX_HASH
    return np.unique(mixed)


class MinHasher:
    def __init__(self, num_perm: int = 128, *, seed: int = 1, shingle_size: int = 5) -> None:
        if not 1 <= shingle_size <= len(_POWERS):
            raise ValueError(f"shingle_size must be 1-{len(_POWERS)}, got {shingle_size}")
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.shingle_size = shingle_size
        self.a = rng.integers(1, 1 << 29, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint64)

    def signature(self, text: str) -> np.ndarray:
        hashed = shingle_hashes(text, self.shingle_size)
        # (a*x + b) mod p stays below 2**62 here, so uint64 never overflows
        values = (np.outer(hashed, self.a) + self.b) % MERSENNE & MAX_HASH
        return np.asarray(values.min(axis=0), dtype=np.uint64)

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.num_perm), dtype=np.uint64)
        return np.vstack([self.signature(t) for t in texts])


def bands_for(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm whose S-curve midpoint is nearest threshold."""
    options = [(b, num_perm // b) for b in range(1, num_perm + 1) if num_perm // b >= 1]
    return min(options, key=lambda br: (abs((1 / br[0]) ** (1 / br[1]) - threshold), -br[0]))


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def exact_duplicates(records: Sequence[Record]) -> list[DuplicateGroup]:
    by_hash: dict[str, list[str]] = defaultdict(list)
    for record in records:
        by_hash[record.content_hash()].append(record.id)
    return [
        DuplicateGroup(kind="exact", record_ids=ids, similarity=1.0)
        for ids in by_hash.values()
        if len(ids) > 1
    ]


def near_duplicates(
    records: Sequence[Record], *, threshold: float = 0.8, num_perm: int = 128, seed: int = 1
) -> list[DuplicateGroup]:
    """Groups of records whose inputs are at least ``threshold`` similar (estimated Jaccard).

    Records already exact duplicates of an earlier one are left to :func:`exact_duplicates`.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    first_of: dict[str, int] = {}
    keep: list[int] = []
    for i, record in enumerate(records):
        if first_of.setdefault(record.content_hash(), i) == i:
            keep.append(i)
    hasher = MinHasher(num_perm, seed=seed)
    sigs = hasher.signatures([record_text(records[i]) for i in keep])
    bands, rows = bands_for(threshold, num_perm)
    union = _UnionFind(len(keep))
    similarity: dict[int, float] = {}
    checked: set[tuple[int, int]] = set()
    for band in range(bands):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        for i, sig in enumerate(sigs[:, band * rows : (band + 1) * rows]):
            buckets[sig.tobytes()].append(i)
        for members in buckets.values():
            for j in members[1:]:
                pair = (members[0], j)
                if pair in checked:
                    continue
                checked.add(pair)
                estimate = float(np.mean(sigs[members[0]] == sigs[j]))
                if estimate >= threshold:
                    union.union(members[0], j)
                    similarity[j] = min(similarity.get(j, 1.0), estimate)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(keep)):
        groups[union.find(i)].append(i)
    return [
        DuplicateGroup(
            kind="near",
            record_ids=[records[keep[i]].id for i in members],
            similarity=round(min(similarity.get(i, 1.0) for i in members[1:]), 4),
        )
        for members in groups.values()
        if len(members) > 1
    ]


def find_duplicates(
    records: Sequence[Record], *, threshold: float = 0.8, num_perm: int = 128, seed: int = 1
) -> list[DuplicateGroup]:
    """Exact groups first, then near-duplicate groups."""
    near = near_duplicates(records, threshold=threshold, num_perm=num_perm, seed=seed)
    return exact_duplicates(records) + near


def dedup(records: Sequence[Record], groups: Sequence[DuplicateGroup]) -> list[Record]:
    """The records minus every group member but its first, in the original order."""
    dropped = {rid for group in groups for rid in group.record_ids[1:]}
    return [record for record in records if record.id not in dropped]
