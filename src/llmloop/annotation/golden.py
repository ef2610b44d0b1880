"""Promotion of settled items into a dataset's ``golden`` alias.

The golden set grows by versions: the records of the current golden version, with each
settled item's record added or replaced. A promoted record carries its final label in
``expectations[<schema field>]`` and who validated it and when in ``metadata``
(``validated_by``, ``validated_at``, ``validation``: ``unanimous`` or ``adjudicated``,
``annotation_queue``). The new version, the alias move and the items' marks are one
transaction, with audit events for each.
"""

from __future__ import annotations

from pydantic import Field

from llmloop.annotation.queues import Queues
from llmloop.data.datasets import GOLDEN, Commit
from llmloop.errors import ValidationError
from llmloop.records import Frozen, Record, RecordSource
from llmloop.store.annotation_types import FINAL_STATUSES, Item, Queue


class PromoteOutcome(Frozen):
    commit: Commit
    promoted: int = Field(description="Settled items written into the golden version.")
    previous_golden: str | None = Field(default=None, description="Version id golden left.")


def golden_record(queue: Queue, item: Item, base: Record | None) -> Record:
    """The item's record with its final label and validation marks."""
    if item.final is None or item.final_at is None:
        raise ValueError(f"item {item.id} is not settled")
    ref = item.ref
    record_id = ref.record_id if ref.kind == "record" else ref.trace_id
    assert record_id is not None
    content = item.content
    source = (
        RecordSource(kind="dataset", ref=ref.version_id)
        if ref.kind == "record"
        else RecordSource(kind="trace", ref=ref.trace_id)
    )
    inputs = base.inputs if base else content.inputs
    outputs = base.outputs if base else content.outputs
    expectations = dict((base.expectations if base else content.expectations) or {})
    meta = dict(base.metadata if base else content.metadata)
    expectations[queue.label_schema.field] = item.final
    meta.update(
        validated_by=item.final_by,
        validated_at=item.final_at.isoformat(),
        validation="adjudicated" if item.status == "adjudicated" else "unanimous",
        annotation_queue=queue.name,
    )
    return Record(
        id=record_id,
        inputs=inputs,
        outputs=outputs,
        expectations=expectations,
        metadata=meta,
        source=base.source if base else source,
    )


def promote(
    queues: Queues,
    project_id: str,
    name: str,
    *,
    actor: str,
    dataset: str | None = None,
    message: str = "",
) -> PromoteOutcome:
    """Write every settled item of the queue into ``dataset``'s golden alias (audited).

    ``dataset`` defaults to the queue's source dataset; a queue of traces needs one (it is
    created when missing). Promoting again with nothing new settled changes nothing.
    """
    queue = queues.repo.get_queue(project_id, name)
    target = dataset or queue.source.get("dataset")
    if not target:
        raise ValidationError(
            f"queue {queue.name!r} holds traces: give the dataset to promote them into"
        )
    settled = queues.repo.items(queue.id, statuses=FINAL_STATUSES)
    if not settled:
        raise ValidationError(
            f"queue {queue.name!r} has no settled item to promote yet: items are settled "
            "when their annotators agree or after adjudication"
        )
    data = queues.datasets
    with queues.db.begin() as conn:
        found = data.get_or_create(
            conn, project_id, target, create=dataset is not None, actor=actor
        )
        queues.repo.lock_queue(queue, conn)
        previous = data.repo.alias(found.id, GOLDEN, conn=conn)
        current = data.repo.records(found.id, previous.version_id) if previous is not None else []
        records = {r.id: r for r in current}
        for item in settled:
            record = golden_record(queue, item, _base(item, records))
            records[record.id] = record
        note = message or f"golden: {len(settled)} validated record(s) from queue {queue.name}"
        parent = previous.version_id if previous else queue.source.get("version_id")
        # the version, the golden move and the items' marks commit together
        commit = data.commit_in(
            conn,
            found,
            list(records.values()),
            actor=actor,
            message=note,
            parent_id=parent,
            aliases=(GOLDEN,),
        )
        queues.repo.mark_promoted([i.id for i in settled], commit.version.id, conn=conn)
        queues.audit.record(
            project_id,
            actor=actor,
            action="annotation.promote",
            object_type="annotation_queue",
            object_id=queue.id,
            reason=message or None,
            data={
                "dataset": found.name,
                "version": commit.version.id,
                "number": commit.version.number,
                "items": len(settled),
            },
            conn=conn,
        )
    return PromoteOutcome(
        commit=commit,
        promoted=len(settled),
        previous_golden=previous.version_id if previous else None,
    )


def _base(item: Item, golden: dict[str, Record]) -> Record | None:
    """The record to update: its golden copy if any, else the item's snapshot."""
    key = item.ref.record_id if item.ref.kind == "record" else item.ref.trace_id
    return golden.get(key or "")
