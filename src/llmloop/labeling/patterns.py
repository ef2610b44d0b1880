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
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

FloatArray = npt.NDArray[np.float64]

_MAX_PATTERNS = 1 << 16


@functools.lru_cache(maxsize=16)
def _pattern_table(width: int, cardinality: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Every vote pattern of ``width`` sources, as a one-hot table and its transpose
    (shared between indexes: never modified)."""
    base = cardinality + 1
    patterns = np.arange(base**width)
    powers = base ** np.arange(width - 1, -1, -1)
    votes = (patterns[:, None] // powers) % base - 1  # [pattern, t], -1 = abstain
    rows, cols = np.nonzero(votes >= 0)
    data = np.ones(len(rows))
    shape = (len(patterns), width * cardinality)
    table = sp.csr_matrix((data, (rows, cols * cardinality + votes[rows, cols])), shape=shape)
    return table, table.T.tocsr()


class VoteIndex:
    """Pattern codes of the rows of ``L`` (values in ``[-1, k)``), grouped by source."""

    def __init__(self, L: npt.NDArray[np.integer], cardinality: int) -> None:
        self.rows, self.sources = L.shape
        self.cardinality = cardinality
        base = cardinality + 1
        limit = min(_MAX_PATTERNS, max(self.rows, base))  # small matrices: small tables
        size = max(1, int(math.log(limit) / math.log(base) + 1e-9))
        self.groups = [range(s, min(s + size, self.sources)) for s in range(0, self.sources, size)]
        self.codes: list[npt.NDArray[np.int32]] = []
        # [pattern, t·k + v] = 1 where the group's source t votes v in that pattern
        self.tables: list[sp.csr_matrix] = []
        self.transposed: list[sp.csr_matrix] = []
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
        """``[j·k + v, c] = Σ_{i: L[i, j] = v} q[c, i]`` for ``c`` in ``classes``."""
        out = np.zeros((self.sources * self.cardinality, q.shape[0]))
        for group, code, table_t in zip(self.groups, self.codes, self.transposed, strict=True):
            for c in classes:
                per_pattern = np.bincount(code, weights=q[c], minlength=table_t.shape[1])
                out[self._slice(group), c] = table_t @ per_pattern
        return out

    def vote_totals(self) -> FloatArray:
        """``[j·k + v]``: how many records got vote ``v`` from source ``j``."""
        out = np.zeros(self.sources * self.cardinality)
        for group, code, table_t in zip(self.groups, self.codes, self.transposed, strict=True):
            per_pattern = np.bincount(code, minlength=table_t.shape[1]).astype(np.float64)
            out[self._slice(group)] = table_t @ per_pattern
        return out

    def class_votes(self) -> FloatArray:
        """``[c, i]``: how many sources voted class ``c`` on record ``i``."""
        k = self.cardinality
        return self.row_sums(np.tile(np.eye(k), (self.sources, 1)), range(k))


__all__ = ["VoteIndex"]
