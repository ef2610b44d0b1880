"""Combine noisy labeling sources into probabilistic labels, without gold labels.

The label matrix ``L`` has one row per record and one column per source (labeling
function or model annotator); ``L[i, j]`` is the class index source ``j`` voted for on
record ``i``, or :data:`ABSTAIN` (``-1``).

:class:`LabelModel` is a Dawid-Skene model fitted by expectation-maximisation. Each
source ``j`` has class-conditional vote probabilities ``P(λ_j = v | y = c)`` (how often
it votes ``v`` when the true class is ``c``; what is left is how often it abstains), and
the sources are conditionally independent given the class. Because abstaining is part
of the model, a source that only ever votes one class ("unipolar", like most keyword
functions) is still informative: it fires more often on its class.

* **Fit**: exact EM on that likelihood, abstentions included, from a soft majority-vote
  start; classes are then matched to the votes so the model cannot come out with its
  labels swapped.
* **Class balance** ``P(y)``: by default the class shares of the majority vote over the
  records with at least one vote (``class_balance="votes"``). The joint EM estimate
  (``"learn"``) is the first thing correlated sources distort (several functions that
  fire together look like a class of their own), so it is an option, as is a balance
  you know (an array).
* **Predict**: the posterior given the votes that were cast,
  ``P(y = c | λ) ∝ P(y = c) · Π_{j voted} P(λ_j = λ_ij | y = c)``: an abstention is not
  evidence, so correlated sources that are silent together do not count many times
  over, and a record nobody voted on gets the class balance.

Everything is vectorised over the records' vote patterns (:mod:`llmloop.labeling.patterns`):
EM runs over the distinct patterns weighted by their counts (so the fit does not depend on
the order of the rows), an EM step is a few gathers and bincounts, and a 1,000,000 x 20
matrix fits in well under a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from llmloop.errors import ValidationError
from llmloop.labeling.patterns import VoteIndex

ABSTAIN = -1

TieBreak = Literal["abstain", "random", "first"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


MAX_CLASSES = 1000


def _check_cardinality(cardinality: int) -> None:
    if not isinstance(cardinality, int) or isinstance(cardinality, bool) or cardinality < 2:
        raise ValidationError(f"cardinality must be an integer >= 2, got {cardinality!r}")
    if cardinality > MAX_CLASSES:
        raise ValidationError(f"at most {MAX_CLASSES} classes are supported, got {cardinality}")


def check_label_matrix(L: npt.ArrayLike, cardinality: int) -> npt.NDArray[np.integer]:
    """``L`` as a 2-D integer array with values in ``[-1, cardinality)``, or a clear error."""
    _check_cardinality(cardinality)
    array = np.asarray(L)
    if array.ndim != 2:
        raise ValidationError(
            f"the label matrix must be 2-D (records x sources), got shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValidationError(f"the label matrix is empty (shape {array.shape})")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValidationError("the label matrix must hold integers (class index or -1)")
        array = array.astype(np.int64)
    elif array.dtype.kind not in "iu":
        raise ValidationError(
            f"the label matrix must hold integers (class index or -1), got dtype {array.dtype}"
        )
    low, high = int(array.min()), int(array.max())
    if low < ABSTAIN or high >= cardinality:
        bad = np.argwhere((array < ABSTAIN) | (array >= cardinality))[0]
        value = int(array[bad[0], bad[1]])
        raise ValidationError(
            f"label matrix value {value} at row {int(bad[0])}, column {int(bad[1])} is not a "
            f"class index in 0..{cardinality - 1} or -1 (abstain)",
            details={"row": int(bad[0]), "column": int(bad[1]), "value": value},
        )
    return array


def vote_counts(L: npt.ArrayLike, cardinality: int) -> IntArray:
    """``(n, k)`` number of votes each record got for each class."""
    array = check_label_matrix(L, cardinality)
    return np.stack([(array == c).sum(axis=1) for c in range(cardinality)], axis=1)


def _break_ties(probs: FloatArray, tie_break: TieBreak, seed: int, atol: float = 1e-9) -> IntArray:
    best = probs.max(axis=1, keepdims=True)
    tied = probs >= best - atol
    pred = probs.argmax(axis=1).astype(np.int64)
    several = tied.sum(axis=1) > 1
    if tie_break == "abstain":
        pred[several] = ABSTAIN
    elif tie_break == "random" and several.any():
        rng = np.random.default_rng(seed)
        noise = rng.random(probs.shape) * tied
        pred[several] = noise[several].argmax(axis=1)
    elif tie_break not in ("first", "random"):
        raise ValidationError(
            f"tie_break must be 'abstain', 'random' or 'first', not {tie_break!r}"
        )
    return pred


def majority_vote(
    L: npt.ArrayLike, cardinality: int, *, tie_break: TieBreak = "random", seed: int = 0
) -> IntArray:
    """The most voted class per record; ``-1`` where nobody voted (and, with
    ``tie_break="abstain"``, where the top classes tie)."""
    votes = vote_counts(L, cardinality)
    pred = _break_ties(votes.astype(np.float64), tie_break, seed)
    pred[votes.sum(axis=1) == 0] = ABSTAIN
    return pred


def majority_vote_proba(L: npt.ArrayLike, cardinality: int) -> FloatArray:
    """Vote shares per record; uniform where nobody voted."""
    votes = vote_counts(L, cardinality).astype(np.float64)
    totals = votes.sum(axis=1, keepdims=True)
    uniform = np.full_like(votes, 1.0 / cardinality)
    return np.where(totals > 0, votes / np.maximum(totals, 1.0), uniform)


@dataclass(frozen=True)
class FitInfo:
    """How a fit went: iterations, whether it converged, and the time it took."""

    iterations: int
    converged: bool
    seconds: float
    rows: int
    sources: int
    warm_start_rows: int = 0


BalanceSetting = Literal["votes", "learn"]

WARM_START_ROWS = 50_000


def votes_class_balance(L: npt.ArrayLike, cardinality: int) -> FloatArray:
    """Class shares of the majority vote over records with a vote (ties split evenly),
    with one pseudo-record per class so no class gets probability 0."""
    votes = vote_counts(L, cardinality).T.astype(np.float64)
    return _balance_from_votes(votes, np.ones(votes.shape[1]))


def _balance_from_votes(votes: FloatArray, counts: FloatArray) -> FloatArray:
    """:func:`votes_class_balance` from ``[c, i]`` vote counts of patterns ``i`` that
    ``counts[i]`` records have."""
    k = votes.shape[0]
    winners = (votes == votes.max(axis=0)) & (votes > 0)
    per_class = (winners / np.maximum(winners.sum(axis=0), 1)) @ counts
    return np.asarray((per_class + 1.0) / (per_class.sum() + k))


def _sigmoid_pair(logit: FloatArray) -> FloatArray:
    """``[1 - sigmoid(x), sigmoid(x)]`` as a ``(2, n)`` array, overwriting ``logit``."""
    out = np.empty((2, len(logit)))
    with np.errstate(over="ignore"):
        np.negative(logit, out=logit)
        np.exp(logit, out=logit)
    logit += 1.0
    np.reciprocal(logit, out=out[1])
    np.subtract(1.0, out[1], out=out[0])
    return out


class LabelModel:
    """Learns each source's vote probabilities (hence its accuracy) from the votes alone.

    ``class_balance`` is ``"votes"`` (majority-vote shares, the default), ``"learn"``
    (estimated jointly by EM) or the probabilities themselves. ``smoothing`` is the
    weight, in pseudo-records, of a uniform Dirichlet prior on each source's vote
    probabilities. Fitting stops when no vote probability moves by more than ``tol``
    between two EM steps, or after ``max_iter`` steps.
    """

    def __init__(
        self,
        cardinality: int = 2,
        *,
        class_balance: BalanceSetting | npt.ArrayLike = "votes",
        max_iter: int = 300,
        tol: float = 1e-4,
        smoothing: float = 1.0,
    ) -> None:
        _check_cardinality(cardinality)
        if not isinstance(max_iter, int) or max_iter < 1:
            raise ValidationError(f"max_iter must be a positive integer, got {max_iter!r}")
        if not tol > 0:
            raise ValidationError(f"tol must be positive, got {tol!r}")
        if not smoothing > 0:
            raise ValidationError(f"smoothing must be > 0, got {smoothing!r}")
        self.cardinality = cardinality
        self.max_iter = max_iter
        self.tol = float(tol)
        self.smoothing = float(smoothing)
        self._balance_setting: str | FloatArray
        if isinstance(class_balance, str):
            if class_balance not in ("votes", "learn"):
                raise ValidationError(
                    f"class_balance must be 'votes', 'learn' or {cardinality} probabilities, "
                    f"got {class_balance!r}"
                )
            self._balance_setting = class_balance
        else:
            self._balance_setting = self._check_balance(class_balance, cardinality)
        self._mu: FloatArray | None = None  # [j, v, c] = P(λ_j = v | y = c)
        self._balance: FloatArray | None = None
        self.fit_info: FitInfo | None = None

    @staticmethod
    def _check_balance(balance: npt.ArrayLike, cardinality: int) -> FloatArray:
        try:
            array = np.asarray(balance, dtype=np.float64)
        except (TypeError, ValueError):
            array = np.zeros(0)
        if array.shape != (cardinality,) or not np.all(np.isfinite(array)) or np.any(array <= 0):
            raise ValidationError(
                f"class_balance must be {cardinality} positive numbers, got {balance!r}"
            )
        return np.asarray(array / array.sum())

    # -- fitting ---------------------------------------------------------------------

    def fit(self, L: npt.ArrayLike) -> LabelModel:
        """Estimate the sources' vote probabilities (and the class balance) from ``L``.

        EM runs over the distinct vote patterns, each weighted by how many records have
        it, in pattern order: the fit is a function of the multiset of rows, identical
        whatever their order. With many distinct patterns EM first runs on a random
        sample of ``WARM_START_ROWS`` records (drawn from the pattern counts); the full
        EM then starts near its fixed point and needs few steps (the fit is on all
        records either way; only where it starts depends on the sample).
        """
        start = time.perf_counter()
        array = check_label_matrix(L, self.cardinality)
        n, m = array.shape
        k = self.cardinality
        index = VoteIndex(array, k).unique()
        counts = index.record_counts()
        class_votes = index.class_votes()
        if isinstance(self._balance_setting, np.ndarray):
            balance = self._balance_setting
        else:
            balance = _balance_from_votes(class_votes, counts)
        warm_rows = 0
        if index.rows > 2 * WARM_START_ROWS:
            sample = index.sample(WARM_START_ROWS, seed=0)
            sample_q = self._initial_posteriors(sample.class_votes())
            _, mu, balance, _, _ = self._em(sample, sample_q, balance)
            q = self._posteriors(index, mu, balance, abstentions=True)
            warm_rows = sample.records
        else:
            q, mu = self._initial_posteriors(class_votes), np.zeros((m, k, k))
        q, mu, balance, iterations, converged = self._em(index, q, balance, mu)
        order = self._match_classes(q, class_votes, counts)
        self._mu = np.ascontiguousarray(mu[:, :, order])
        self._balance = balance[order]
        seconds = time.perf_counter() - start
        self.fit_info = FitInfo(iterations, converged, seconds, n, m, warm_rows)
        return self

    def _em(
        self,
        index: VoteIndex,
        q: FloatArray,
        balance: FloatArray,
        mu: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray, FloatArray, int, bool]:
        """EM from posteriors ``q``: ``(q, mu, balance, iterations, converged)``."""
        m, k, n = index.sources, self.cardinality, index.records
        learn = isinstance(self._balance_setting, str) and self._balance_setting == "learn"
        fired_per_column = index.vote_totals()
        records = index.record_counts()  # per pattern
        previous = np.zeros((m, k, k)) if mu is None else mu
        prior = self.smoothing / (k + 1)
        for iteration in range(1, self.max_iter + 1):
            class_mass = q @ records
            counts = self._expected_counts(index, q, fired_per_column).reshape(m, k, k)
            mu = (counts + prior) / (class_mass + self.smoothing)[None, None, :]
            if learn:
                balance = (class_mass + 1.0) / (n + k)
            q = self._posteriors(index, mu, balance, abstentions=True)
            if float(np.abs(mu - previous).max()) < self.tol:
                return q, mu, balance, iteration, True
            previous = mu
        return q, previous, balance, self.max_iter, False

    @staticmethod
    def _match_classes(
        q: FloatArray, class_votes: FloatArray, counts: FloatArray
    ) -> npt.NDArray[np.intp]:
        """The fitted class to call class ``c``: the assignment that agrees most with the
        votes (rows of ``q`` and ``class_votes`` are patterns, ``counts`` records each).
        EM's classes are only defined up to a permutation (the votes' classes are
        observed, so only the latent class axis is renamed); classes nobody voted for
        agree with nothing and keep their order."""
        agreement = (class_votes * counts) @ q.T  # [vote class, fitted class]
        agreement += np.eye(len(agreement)) * 1e-9 * np.abs(agreement).max()  # ties: keep
        _, order = linear_sum_assignment(agreement, maximize=True)
        return np.asarray(order)

    @staticmethod
    def _initial_posteriors(class_votes: FloatArray) -> FloatArray:
        """Soft majority vote, ``(k, n)``: each record's vote shares (uniform if no votes)."""
        shares = class_votes.copy()
        totals = shares.sum(axis=0)
        shares[:, totals == 0] = 1.0
        shares /= np.where(totals == 0, float(len(shares)), totals)
        return shares

    @staticmethod
    def _expected_counts(
        index: VoteIndex, q: FloatArray, fired_per_column: FloatArray
    ) -> FloatArray:
        """``[j·k + v, c]``: expected number of records of class ``c`` that got vote ``v``.

        Posteriors sum to 1, so the last class's counts are what the others leave.
        """
        k = q.shape[0]
        counts = index.vote_sums(q, range(k - 1))
        counts[:, k - 1] = fired_per_column - counts[:, : k - 1].sum(axis=1)
        np.maximum(counts[:, k - 1], 0.0, out=counts[:, k - 1])
        return counts

    @staticmethod
    def _posteriors(
        index: VoteIndex, mu: FloatArray, balance: FloatArray, *, abstentions: bool
    ) -> FloatArray:
        """``(k, n)`` posteriors; class-major so every step runs over contiguous rows.

        With ``abstentions`` each silent source counts as evidence too (the model's exact
        posterior, used while fitting): folded into the vote weights as
        ``log P(v | c) - log P(abstain | c)`` plus a per-class constant.
        """
        m, k, _ = mu.shape
        log_mu = np.log(mu)
        constant = np.log(balance)
        if abstentions:
            log_abstain = np.log(np.maximum(1.0 - mu.sum(axis=1), 1e-300))  # [j, c]
            log_mu -= log_abstain[:, None, :]
            constant = constant + log_abstain.sum(axis=0)
        weights = log_mu.reshape(m * k, k)
        weights -= weights[:, :1]  # log-odds against class 0: one sum fewer
        constant -= constant[0]
        if k == 2:  # the common case, in a third of the passes over memory
            return _sigmoid_pair(index.row_sum(weights[:, 1]) + constant[1])
        scores = index.row_sums(weights, range(1, k))
        scores += constant[:, None]
        scores -= scores.max(axis=0)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=0)
        return scores

    # -- using a fitted model --------------------------------------------------------

    def _fitted(self) -> tuple[FloatArray, FloatArray]:
        if self._mu is None or self._balance is None:
            raise ValidationError("the label model is not fitted yet: call fit(L) first")
        return self._mu, self._balance

    def predict_proba(self, L: npt.ArrayLike) -> FloatArray:
        """``(n, k)`` class probabilities per record; rows sum to 1."""
        mu, balance = self._fitted()
        array = check_label_matrix(L, self.cardinality)
        if array.shape[1] != mu.shape[0]:
            raise ValidationError(
                f"the label matrix has {array.shape[1]} sources; the model was fitted on "
                f"{mu.shape[0]}"
            )
        index = VoteIndex(array, self.cardinality)
        return self._posteriors(index, mu, balance, abstentions=False).T

    def predict(
        self, L: npt.ArrayLike, *, tie_break: TieBreak = "abstain", seed: int = 0
    ) -> IntArray:
        """The most probable class per record (ties broken by ``tie_break``).

        A record nobody voted on gets the class balance, hence the most common class:
        mask rows where ``(L != -1).any(axis=1)`` is false to leave them unlabeled.
        """
        return _break_ties(self.predict_proba(L), tie_break, seed)

    @property
    def class_balance(self) -> FloatArray:
        """``P(y = c)``: from the votes, learned, or as given."""
        return self._fitted()[1].copy()

    @property
    def vote_probabilities(self) -> FloatArray:
        """``[j, v, c] = P(source j votes v | y = c)``; ``1 - Σ_v`` is its abstain rate."""
        return self._fitted()[0].copy()

    @property
    def accuracies(self) -> FloatArray:
        """Each source's estimated accuracy when it votes: ``P(λ_j = y | λ_j ≠ abstain)``."""
        mu, balance = self._fitted()
        correct = np.einsum("jcc,c->j", mu, balance)
        fired = np.einsum("jvc,c->j", mu, balance)
        return np.asarray(correct / np.maximum(fired, 1e-12))

    @property
    def coverages(self) -> FloatArray:
        """Each source's estimated share of records it votes on."""
        mu, balance = self._fitted()
        return np.asarray(np.einsum("jvc,c->j", mu, balance))


__all__ = [
    "ABSTAIN",
    "BalanceSetting",
    "FitInfo",
    "LabelModel",
    "TieBreak",
    "check_label_matrix",
    "majority_vote",
    "majority_vote_proba",
    "vote_counts",
    "votes_class_balance",
]
