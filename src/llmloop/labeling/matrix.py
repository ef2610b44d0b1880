"""Apply labeling functions to records in batch: the label matrix.

:func:`apply_labeling_functions` runs every function on every record and returns a
:class:`LabelMatrix` — one row per record, one column per function, the voted class
index or ``-1`` (abstain). A function that raises on a record, or returns something
that is not one of the classes, abstains there and the failure is reported in
:attr:`LabelMatrix.failures`; the other records and functions are unaffected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from llmloop.errors import ValidationError
from llmloop.labeling.functions import LabelingFunction
from llmloop.labeling.label_model import ABSTAIN, MAX_CLASSES, check_label_matrix
from llmloop.records import Label, Record, ScoreSource, ScoreSourceKind

_MAX_REPORTED_PER_LF = 100


@dataclass(frozen=True)
class LFFailure:
    """A labeling function that failed on one record (it abstained there)."""

    function: str
    record_id: str
    row: int
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"function": self.function, "record_id": self.record_id, "row": self.row} | {
            "error": self.error
        }


def check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    """The task's class names: at least two, distinct, non-empty strings."""
    if isinstance(classes, str):
        raise ValidationError("classes must be a list of class names, not one string")
    names = tuple(classes)
    if len(names) < 2 or not all(isinstance(c, str) and c for c in names):
        raise ValidationError(f"give at least two non-empty class names, got {list(names)!r}")
    if len(names) > MAX_CLASSES:
        raise ValidationError(f"at most {MAX_CLASSES} classes are supported, got {len(names)}")
    repeated = sorted(c for c, n in Counter(names).items() if n > 1)
    if repeated:
        raise ValidationError(f"class names must be distinct; repeated: {repeated}")
    return names


@dataclass(frozen=True)
class LabelMatrix:
    """Votes of ``sources`` (columns) on records (rows): class index, or ``-1``."""

    values: npt.NDArray[np.int16]
    classes: tuple[str, ...]
    sources: tuple[str, ...]
    record_ids: tuple[str, ...]
    failures: tuple[LFFailure, ...] = ()
    failure_counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_array(
        cls,
        values: npt.ArrayLike,
        classes: Sequence[str],
        *,
        sources: Sequence[str] | None = None,
        record_ids: Sequence[str] | None = None,
    ) -> LabelMatrix:
        """Wrap an existing matrix (say, votes computed elsewhere), checking it."""
        names = check_classes(classes)
        array = check_label_matrix(values, len(names)).astype(np.int16)
        n, m = array.shape
        source_names = tuple(sources) if sources is not None else tuple(f"lf_{j}" for j in range(m))
        ids = tuple(record_ids) if record_ids is not None else tuple(str(i) for i in range(n))
        if len(source_names) != m or len(set(source_names)) != m:
            raise ValidationError(f"give {m} distinct source names, got {list(source_names)!r}")
        if len(ids) != n:
            raise ValidationError(f"give {n} record ids, got {len(ids)}")
        return cls(array, names, source_names, ids)

    @property
    def cardinality(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int]:
        rows, columns = self.values.shape
        return rows, columns

    def to_frame(self) -> pd.DataFrame:
        """One column per source holding the voted class name or ``None``."""
        names = np.array([*self.classes, None], dtype=object)
        data = {s: names[self.values[:, j]] for j, s in enumerate(self.sources)}
        index = pd.Index(self.record_ids, name="record_id")
        return pd.DataFrame(data, index=index, dtype=object)

    def to_labels(
        self, probabilities: npt.ArrayLike, *, field: str, source: str = "label_model"
    ) -> list[Label]:
        """One probabilistic :class:`~llmloop.records.Label` per record from ``(n, k)``
        class probabilities (a label model's ``predict_proba``)."""
        probs = np.asarray(probabilities, dtype=np.float64)
        if probs.shape != (len(self.record_ids), self.cardinality):
            raise ValidationError(
                f"probabilities must have shape {(len(self.record_ids), self.cardinality)}, "
                f"got {probs.shape}"
            )
        origin = ScoreSource.parse(source)
        if (
            origin.kind is not ScoreSourceKind.label_model
            and origin.kind is not ScoreSourceKind.model
        ):
            raise ValidationError(f"source {source!r} must be label_model[:name] or model:<ref>")
        labels = []
        for record_id, row in zip(self.record_ids, probs, strict=True):
            best = int(np.argmax(row))
            distribution = {c: float(p) for c, p in zip(self.classes, row, strict=True)}
            labels.append(
                Label(
                    target_id=record_id,
                    name=field,
                    field=field,
                    value=self.classes[best],
                    source=origin,
                    distribution=distribution,
                )
            )
        return labels


def _vote_index(value: object, index: dict[str, int]) -> int:
    if value is None:
        return ABSTAIN
    if isinstance(value, str) and value in index:
        return index[value]
    raise ValidationError(f"returned {value!r}, which is not one of the classes {list(index)}")


def _run_one(lf: LabelingFunction, record: Record, index: dict[str, int]) -> int | str:
    """The vote, or the error text when the function fails on this record."""
    try:
        return _vote_index(lf(record), index)
    except ValidationError as exc:
        return exc.message
    except Exception as exc:  # any error in user code abstains and is reported
        return f"{type(exc).__name__}: {exc}"


def _apply_column(
    lf: LabelingFunction, records: Sequence[Record], index: dict[str, int]
) -> tuple[npt.NDArray[np.int16], list[tuple[int, str]]]:
    column = np.full(len(records), ABSTAIN, dtype=np.int16)
    errors: list[tuple[int, str]] = []
    if lf.batch is not None:
        try:
            votes = lf.batch(records)
            if len(votes) != len(records):
                raise ValueError(f"batch returned {len(votes)} votes for {len(records)} records")
            column[:] = [_vote_index(v, index) for v in votes]
            return column, errors
        except Exception:  # retried record by record below, to find the culprits
            pass
    for row, record in enumerate(records):
        outcome = _run_one(lf, record, index)
        if isinstance(outcome, str):
            errors.append((row, outcome))
        else:
            column[row] = outcome
    return column, errors


def apply_labeling_functions(
    lfs: Sequence[LabelingFunction], records: Sequence[Record], classes: Sequence[str]
) -> LabelMatrix:
    """Run each labeling function on each record; failures abstain and are reported."""
    names = check_classes(classes)
    functions = list(lfs)
    if not functions:
        raise ValidationError("give at least one labeling function")
    for lf in functions:
        if not isinstance(lf, LabelingFunction):
            raise ValidationError(
                f"{lf!r} is not a labeling function: decorate it with @labeling_function()"
            )
    repeated = sorted(n for n, c in Counter(lf.name for lf in functions).items() if c > 1)
    if repeated:
        raise ValidationError(f"labeling function names must be distinct; repeated: {repeated}")
    rows = list(records)
    if not rows:
        raise ValidationError("give at least one record to label")
    bad = [i for i, r in enumerate(rows) if not isinstance(r, Record)]
    if bad:
        raise ValidationError(f"items at positions {bad[:10]} are not records")
    index = {c: i for i, c in enumerate(names)}
    values = np.full((len(rows), len(functions)), ABSTAIN, dtype=np.int16)
    failures: list[LFFailure] = []
    counts: dict[str, int] = {}
    for j, lf in enumerate(functions):
        values[:, j], errors = _apply_column(lf, rows, index)
        if errors:
            counts[lf.name] = len(errors)
        failures += [
            LFFailure(lf.name, rows[row].id, row, message)
            for row, message in errors[:_MAX_REPORTED_PER_LF]
        ]
    return LabelMatrix(
        values,
        names,
        tuple(lf.name for lf in functions),
        tuple(r.id for r in rows),
        tuple(failures),
        counts,
    )


__all__ = ["LFFailure", "LabelMatrix", "apply_labeling_functions", "check_classes"]
