"""Label errors: flag likely mislabeled records with confident learning, then review them.

The local text model (:class:`llmloop.embedded.text_model.TextModel`) is fitted with
stratified k-fold cross-validation, so every record gets class probabilities from a
model that never saw it. Confident learning (``cleanlab.filter.find_label_issues``)
estimates the joint distribution of given and true labels from those out-of-fold
probabilities and flags the records whose given label is most likely wrong. The flagged
records go to a review queue (label schema: the classes) whose items show the given
label and the model's suggestion.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field
from sklearn.model_selection import StratifiedKFold

from llmloop.annotation.queues import Queues, QueueSummary
from llmloop.embedded.text_model import TextModel, TextModelConfig
from llmloop.errors import ValidationError
from llmloop.records import Frozen, Record
from llmloop.store.annotation_types import LabelSchema

MAX_TEXT_CHARS = 4000


class LabelIssue(Frozen):
    record_id: str
    given: str
    suggested: str
    quality: float = Field(description="Model probability of the given label (self-confidence).")
    suggested_probability: float


class LabelErrorReport(Frozen):
    dataset: str
    version: str
    field: str
    classes: list[str]
    records: int = Field(description="Records with a label and a text, checked.")
    skipped: int = Field(description="Records without a label or a text, not checked.")
    folds: int
    flagged: list[LabelIssue]
    seconds: float
    queue: QueueSummary | None = None


def record_text(record: Record, text_field: str | None) -> str:
    """The text the model reads: ``inputs[text_field]``, or every string input joined."""
    if text_field is not None:
        value = record.inputs.get(text_field)
        return value[:MAX_TEXT_CHARS] if isinstance(value, str) else ""
    parts = [v for v in record.inputs.values() if isinstance(v, str)]
    return "\n".join(parts)[:MAX_TEXT_CHARS]


def fold_count(labels: Sequence[str], folds: int) -> int:
    """Folds to use: at most the size of the smallest class (each fold sees every class)."""
    counts = {c: 0 for c in set(labels)}
    for label in labels:
        counts[label] += 1
    rare = sorted(c for c, n in counts.items() if n < 2)
    if rare:
        raise ValidationError(
            f"every class needs at least 2 labeled records for cross-validation; {rare} "
            "have fewer: label more of them or leave them out"
        )
    return max(2, min(folds, min(counts.values())))


def out_of_fold_probs(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
    config: TextModelConfig | None = None,
) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Class probabilities of each text from a model fitted without it; and the classes."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValidationError(f"label errors need at least 2 classes, got {classes}")
    folds = fold_count(labels, folds)
    column = {c: i for i, c in enumerate(classes)}
    probs = np.zeros((len(texts), len(classes)))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    text_array = np.asarray(texts, dtype=object)
    label_array = np.asarray(labels, dtype=object)
    for train, test in splitter.split(text_array, label_array):
        model = TextModel.train(list(text_array[train]), list(label_array[train]), config=config)
        fold_probs = model.predict_proba(list(text_array[test]))
        for j, cls in enumerate(model.classes):
            probs[test, column[cls]] = fold_probs[:, j]
    return probs, classes


def find_issues(
    labels: Sequence[str], probs: npt.NDArray[np.float64], classes: Sequence[str]
) -> list[tuple[int, float, int]]:
    """Confident learning: (index, quality of the given label, suggested class index),
    most likely errors first."""
    from cleanlab.filter import find_label_issues  # heavy import (~1 s), only when used

    codes = np.array([classes.index(label) for label in labels])
    ranked = find_label_issues(
        labels=codes, pred_probs=probs, return_indices_ranked_by="self_confidence"
    )
    return [
        (int(i), float(probs[i, codes[i]]), int(np.argmax(probs[i]))) for i in np.asarray(ranked)
    ]


def flag_label_errors(
    queues: Queues,
    project_id: str,
    dataset: str,
    *,
    actor: str,
    version: str | None = None,
    field: str = "label",
    text_field: str | None = None,
    folds: int = 5,
    seed: int = 0,
    queue: str | None = None,
    required: int = 1,
    limit: int | None = None,
    config: TextModelConfig | None = None,
) -> LabelErrorReport:
    """Flag likely label errors of a dataset version; with ``queue``, send them to review.

    Labels are read from ``expectations[field]``, text from ``inputs[text_field]`` (or all
    string inputs). ``limit`` keeps the most likely errors only.
    """
    started = time.perf_counter()
    resolved = queues.datasets.version(project_id, dataset, version)
    records = queues.datasets.records(project_id, dataset, resolved.id)
    usable: list[tuple[Record, str, str]] = []
    for record in records:
        label = (record.expectations or {}).get(field)
        text = record_text(record, text_field)
        if isinstance(label, str | int) and not isinstance(label, bool) and text.strip():
            usable.append((record, text, str(label)))
    if len(usable) < 10:
        raise ValidationError(
            f"only {len(usable)} record(s) of {dataset} {resolved.label} have a text and "
            f"expectations[{field!r}]; label errors need at least 10"
        )
    texts = [t for _, t, _ in usable]
    labels = [label for _, _, label in usable]
    probs, classes = out_of_fold_probs(texts, labels, folds=folds, seed=seed, config=config)
    issues = find_issues(labels, probs, classes)[: limit if limit else None]
    flagged = [
        LabelIssue(
            record_id=usable[i][0].id,
            given=labels[i],
            suggested=classes[suggested],
            quality=round(quality, 4),
            suggested_probability=round(float(probs[i, suggested]), 4),
        )
        for i, quality, suggested in issues
    ]
    summary = None
    if queue is not None and flagged:
        summary = _review_queue(
            queues, project_id, queue, dataset, resolved.id, field, classes, flagged,
            required=required, actor=actor,
        )  # fmt: skip
    return LabelErrorReport(
        dataset=dataset,
        version=resolved.id,
        field=field,
        classes=classes,
        records=len(usable),
        skipped=len(records) - len(usable),
        folds=fold_count(labels, folds),
        flagged=flagged,
        seconds=round(time.perf_counter() - started, 3),
        queue=summary,
    )


def _review_queue(
    queues: Queues,
    project_id: str,
    name: str,
    dataset: str,
    version_id: str,
    field: str,
    classes: list[str],
    flagged: list[LabelIssue],
    *,
    required: int,
    actor: str,
) -> QueueSummary:
    hints: dict[str, dict[str, Any]] = {
        issue.record_id: {
            "given": issue.given,
            "suggested": issue.suggested,
            "quality": issue.quality,
        }
        for issue in flagged
    }
    return queues.create_from_dataset(
        project_id,
        name,
        dataset=dataset,
        version=version_id,
        record_ids=[i.record_id for i in flagged],
        schema=LabelSchema(
            kind="classes",
            field=field,
            classes=classes,
            instructions="Likely mislabeled: check the given label against the suggestion.",
        ),
        required=required,
        description=f"review of {len(flagged)} likely label errors in {dataset}",
        hints=hints,
        actor=actor,
    )
