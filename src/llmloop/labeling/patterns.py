"""The votes of a label matrix, indexed by pattern for fast sums over sources.

The sources are split into groups small enough that every combination of their votes
(``(k + 1) ** group_size`` patterns, abstain included) fits a table of at most 65,536
rows (and not many more rows than the matrix has). Each record is encoded once as one
pattern code per group. Then:

* a per-record sum over sources of per-vote weights (the E-step of a label model) is,
  per group, a tiny ``patterns x weights`` product and one gather by code;
* a per-vote sum over records of per-record weights (the M-step) is, per group, one
  ``bincount`` by code and a tiny product back to votes.

Both are exact, and cost a few milliseconds per million records and group, where a
sparse one-hot product would touch every vote.

:meth:`VoteIndex.unique` folds identical records into one row with a count (sorted by
pattern, so it is the same whatever order the records came in); the per-vote sums then
weigh each row by its count, and a fit over the distinct patterns is exactly a fit over
the records.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Codes = npt.NDArray[np.int32] | npt.NDArray[np.intp]

_MAX_PATTERNS = 1 << 16
_MAX_KEY = 1 << 62  # pattern keys stay below this, in int64
_MAX_EXACT_SAMPLE = 10_000_000


def _decode_keys(keys: IntArray, steps: list[int | IntArray]) -> list[Codes]:
    """The per-group codes of :meth:`VoteIndex._pattern_keys` keys, first group first."""
    codes: list[Codes] = []
    for step in reversed(steps):
        if isinstance(step, int):
            higher = keys // step
            codes.append(keys - higher * step)
            keys = higher
        else:
            keys = step[keys]
    return codes[::-1]


def _group_size(rows: int, cardinality: int) -> int:
    """Sources per group: a group's patterns fit a table of at most ``_MAX_PATTERNS``
    rows, and not many more than there are records (small matrices: small tables)."""
    base = cardinality + 1
    limit = min(_MAX_PATTERNS, max(rows, base))
    return max(1, int(math.log(limit) / math.log(base) + 1e-9))


@functools.lru_cache(maxsize=16)
def _pattern_votes(width: int, cardinality: int) -> npt.NDArray[np.signedinteger[Any]]:
    """``[pattern, t]``: the vote of source ``t`` in each pattern of ``width`` sources,
    ``-1`` for abstain (shared between indexes: never modified)."""
    base = cardinality + 1
    patterns = np.arange(base**width)
    powers = base ** np.arange(width - 1, -1, -1)
    dtype = np.int8 if cardinality < 128 else np.int16
    return ((patterns[:, None] // powers) % base - 1).astype(dtype)


@functools.lru_cache(maxsize=16)
def _pattern_table(width: int, cardinality: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Every vote pattern of ``width`` sources, as a one-hot table and its transpose
    (shared between indexes: never modified)."""
    patterns = np.arange((cardinality + 1) ** width)
    votes = _pattern_votes(width, cardinality)
    rows, cols = np.nonzero(votes >= 0)
    data = np.ones(len(rows))
    shape = (len(patterns), width * cardinality)
    table = sp.csr_matrix((data, (rows, cols * cardinality + votes[rows, cols])), shape=shape)
    return table, table.T.tocsr()


class VoteIndex:
    """Pattern codes of the rows of ``L`` (values in ``[-1, k)``), grouped by source.

    Each row stands for ``counts[i]`` identical records (1 for an index of ``L`` itself):
    per-row sums are per row, per-vote sums count every record.
    """

    def __init__(
        self, L: npt.NDArray[np.integer], cardinality: int, counts: IntArray | None = None
    ) -> None:
        self.rows, self.sources = L.shape
        self.cardinality = cardinality
        base = cardinality + 1
        size = _group_size(self.rows, cardinality)
        self.groups = [range(s, min(s + size, self.sources)) for s in range(0, self.sources, size)]
        self.codes: list[Codes] = []
        # [pattern, t·k + v] = 1 where the group's source t votes v in that pattern
        self.tables: list[sp.csr_matrix] = []
        self.transposed: list[sp.csr_matrix] = []
        self.counts = counts  # None: every row is one record
        columns = np.ascontiguousarray(L.T)  # one contiguous row per source
        for group in self.groups:
            # digits are vote + 1 (0 = abstain): add the +1s of every digit at the end
            code = np.zeros(self.rows, dtype=np.int32)
            for j in group:
                code *= base
                code += columns[j]
            code += sum(base**t for t in range(len(group)))
            self.codes.append(code)
            table, transposed = _pattern_table(len(group), cardinality)
            self.tables.append(table)
            self.transposed.append(transposed)

    @property
    def records(self) -> int:
        """How many records the rows stand for."""
        return self.rows if self.counts is None else int(self.counts.sum())

    def record_counts(self) -> FloatArray:
        """``[i]``: how many records row ``i`` stands for."""
        return np.ones(self.rows) if self.counts is None else self.counts.astype(np.float64)

    def _with_rows(self, codes: list[Codes], counts: IntArray) -> VoteIndex:
        """An index of other rows, given by their codes in this index's groups; in
        groups (and tables) sized for them if they are fewer."""
        if _group_size(len(counts), self.cardinality) < len(self.groups[0]):
            return VoteIndex(self._votes(codes), self.cardinality, counts)
        other = copy.copy(self)
        other.codes = codes
        other.counts = counts
        other.rows = len(counts)
        return other

    def _votes(self, codes: list[Codes]) -> npt.NDArray[np.int64]:
        """The ``(rows, sources)`` votes that ``codes`` (in this index's groups) encode."""
        votes = np.empty((len(codes[0]), self.sources), dtype=np.int64)
        for group, code in zip(self.groups, codes, strict=True):
            votes[:, group.start : group.stop] = _pattern_votes(len(group), self.cardinality)[code]
        return votes

    def unique(self) -> VoteIndex:
        """One row per distinct vote pattern, in pattern order, with how many records
        have it: the same index whatever the order of the records."""
        keys, steps = self._pattern_keys()
        if self.counts is None:
            unique_keys, counts = np.unique(keys, return_counts=True)
        else:
            unique_keys, inverse = np.unique(keys, return_inverse=True)
            counts = np.bincount(inverse, weights=self.counts).astype(np.int64)
        return self._with_rows(_decode_keys(unique_keys, steps), counts)

    def _pattern_keys(self) -> tuple[IntArray, list[int | IntArray]]:
        """One int64 key per row, ordered like the rows' codes (group by group), and the
        steps that turn it back into codes: a group's table size (one mixed-radix digit),
        or the sorted keys of the groups before, where they had to be ranked to fit."""
        keys = np.zeros(self.rows, dtype=np.int64)
        bound = 1
        steps: list[int | IntArray] = []
        for code, table in zip(self.codes, self.tables, strict=True):
            size = table.shape[0]
            if bound * size > _MAX_KEY:
                ranked, keys = np.unique(keys, return_inverse=True)
                steps.append(ranked)
                bound = len(ranked)
            keys = keys * size + code
            bound *= size
            steps.append(size)
        return keys, steps

    def sample(self, size: int, seed: int) -> VoteIndex:
        """The distinct patterns of ``size`` records drawn without replacement (about
        ``size`` beyond 10,000,000 records), with their counts in the sample: for a
        :meth:`unique` index, a function of the multiset of records and the seed."""
        counts = self.record_counts().astype(np.int64)
        rng = np.random.default_rng(seed)
        if self.records <= _MAX_EXACT_SAMPLE:  # a temporary array of `records` integers
            drawn = rng.multivariate_hypergeometric(counts, size, method="count")
        else:
            drawn = rng.binomial(counts, size / self.records)
        kept = np.flatnonzero(drawn)
        return self._with_rows([code[kept] for code in self.codes], drawn[kept])

    def _slice(self, group: range) -> slice:
        k = self.cardinality
        return slice(group.start * k, group.stop * k)

    def row_sums(self, weights: FloatArray, classes: range) -> FloatArray:
        """``[c, i] = Σ_j weights[j·k + L[i, j], c]`` for ``c`` in ``classes`` (abstentions
        add nothing); rows of other classes are 0."""
        out = np.zeros((weights.shape[1], self.rows))
        for c in classes:
            out[c] = self.row_sum(weights[:, c])
        return out

    def row_sum(self, weights: FloatArray) -> FloatArray:
        """``[i] = Σ_j weights[j·k + L[i, j]]`` (abstentions add nothing)."""
        out: FloatArray | None = None
        for group, code, table in zip(self.groups, self.codes, self.tables, strict=True):
            per_pattern = table @ np.ascontiguousarray(weights[self._slice(group)])
            gathered = np.take(per_pattern, code)  # faster than take(..., out=...)
            if out is None:
                out = gathered
            else:
                out += gathered
        return out if out is not None else np.zeros(self.rows)

    def vote_sums(self, q: FloatArray, classes: range) -> FloatArray:
        """``[j·k + v, c] = Σ_{i: L[i, j] = v} counts[i] · q[c, i]`` for ``c`` in ``classes``."""
        out = np.zeros((self.sources * self.cardinality, q.shape[0]))
        weighted = {c: q[c] if self.counts is None else q[c] * self.counts for c in classes}
        for group, code, table_t in zip(self.groups, self.codes, self.transposed, strict=True):
            for c in classes:
                per_pattern = np.bincount(code, weights=weighted[c], minlength=table_t.shape[1])
                out[self._slice(group), c] = table_t @ per_pattern
        return out

    def vote_totals(self) -> FloatArray:
        """``[j·k + v]``: how many records got vote ``v`` from source ``j``."""
        out = np.zeros(self.sources * self.cardinality)
        for group, code, table_t in zip(self.groups, self.codes, self.transposed, strict=True):
            per_pattern = np.bincount(code, weights=self.counts, minlength=table_t.shape[1])
            out[self._slice(group)] = table_t @ per_pattern.astype(np.float64)
        return out

    def class_votes(self) -> FloatArray:
        """``[c, i]``: how many sources voted class ``c`` on row ``i``."""
        k = self.cardinality
        return self.row_sums(np.tile(np.eye(k), (self.sources, 1)), range(k))


__all__ = ["VoteIndex"]
