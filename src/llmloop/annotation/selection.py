"""Active-learning hand-off: the records a strategy picks become an annotation queue."""

from __future__ import annotations

from collections.abc import Iterable

import numpy.typing as npt

from llmloop.annotation.queues import Queues, QueueSummary
from llmloop.errors import ValidationError
from llmloop.labeling.active import Strategy, select_batch
from llmloop.store.annotation_types import LabelSchema


def queue_from_selection(
    queues: Queues,
    project_id: str,
    name: str,
    *,
    dataset: str,
    schema: LabelSchema,
    size: int,
    strategy: Strategy,
    actor: str,
    version: str | None = None,
    probs: npt.ArrayLike | None = None,
    label_matrix: npt.ArrayLike | None = None,
    cardinality: int | None = None,
    embeddings: npt.ArrayLike | None = None,
    labeled: Iterable[int] = (),
    pool: int = 10,
    seed: int = 0,
    required: int = 1,
    description: str = "",
) -> QueueSummary:
    """Pick ``size`` records of a dataset version with an active-learning ``strategy``
    (:func:`llmloop.labeling.active.select_batch`) and queue them for annotation.

    ``probs``, ``label_matrix`` and ``embeddings`` have one row per record of the version,
    in its order; ``labeled`` are positions already labeled. Each item's hints record the
    strategy and the rank of its pick.
    """
    resolved = queues.datasets.version(project_id, dataset, version)
    records = queues.datasets.records(project_id, dataset, resolved.id)
    for what, array in (
        ("probs", probs),
        ("label_matrix", label_matrix),
        ("embeddings", embeddings),
    ):
        if array is not None and len(array) != len(records):  # type: ignore[arg-type]
            raise ValidationError(
                f"{what} has {len(array)} rows but {dataset} {resolved.label} has "  # type: ignore[arg-type]
                f"{len(records)} records: give one row per record, in version order"
            )
    if strategy == "random" and probs is None and label_matrix is None and embeddings is None:
        embeddings = [[0.0]] * len(records)  # random needs only the number of records
    picked = select_batch(
        size,
        strategy=strategy,
        probs=probs,
        label_matrix=label_matrix,
        cardinality=cardinality,
        embeddings=embeddings,
        labeled=labeled,
        pool=pool,
        seed=seed,
    )
    if not picked:
        raise ValidationError("the strategy picked no record: every record is labeled already")
    ids = [records[i].id for i in picked]
    hints = {rid: {"strategy": strategy, "rank": n + 1} for n, rid in enumerate(ids)}
    return queues.create_from_dataset(
        project_id,
        name,
        dataset=dataset,
        version=resolved.id,
        record_ids=ids,
        schema=schema,
        required=required,
        description=description or f"{len(ids)} records picked by {strategy}",
        hints=hints,
        actor=actor,
    )
