"""Annotation queues: items to label, who labels what, and when an item is settled.

Rules (rows live in :mod:`llmloop.store.annotation_queues`):

* a queue holds dataset records of one version, or traces, and a label schema; each item
  needs ``required`` answers from different annotators;
* ``next_item`` gives an annotator the first item assigned to them that they have not
  answered, else claims the first item that still has a free place and that they have
  neither answered nor skipped; the queue row is locked while it picks, so two
  annotators never take the last place of one item;
* once an item has ``required`` answers it is settled: ``resolved`` when they all agree
  (the answer is the final label), ``disputed`` otherwise, until an adjudicator decides
  (``adjudicated``). A later answer re-opens a resolved item; an adjudicated one stays.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field
from sqlalchemy.engine import Connection

from llmloop.annotation.agreement import AgreementReport, agreement
from llmloop.data.datasets import Datasets
from llmloop.errors import ConflictError, ValidationError
from llmloop.records import Frozen, new_id, utcnow
from llmloop.store import AuditRepository, Database
from llmloop.store.annotation_queues import AnnotationRepository
from llmloop.store.annotation_types import (
    FINAL_STATUSES,
    ITEM_STATUSES,
    Annotation,
    AnnotationStatus,
    Answer,
    Assignment,
    Item,
    ItemContent,
    ItemRef,
    LabelSchema,
    Progress,
    Queue,
    answer_key,
)
from llmloop.store.traces import TraceRepository

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_ITEMS = 100_000


class QueueSummary(Frozen):
    queue: Queue
    progress: Progress
    annotators: list[str] = Field(default_factory=list)


class ItemView(Frozen):
    """An item with every answer given so far (for adjudication and review)."""

    item: Item
    annotations: list[Annotation] = Field(default_factory=list)


class ItemPage(Frozen):
    queue: Queue
    total: int
    offset: int
    limit: int
    items: list[ItemView]


class AssignOutcome(Frozen):
    assigned: int = Field(description="New assignments (existing ones are kept).")
    items: int
    annotators: list[str]


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        message = (
            f"queue name {name!r} is invalid: use 1-100 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
        raise ValidationError(message, details=[{"field": "name", "message": message}])


def check_annotator(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise ValidationError(
            f"annotator name {name[:50]!r} is invalid: use 1-200 printable characters"
        )
    return name


def annotator_name(actor: str) -> str:
    """The annotator a caller is: an API key's name (``key:alice`` -> ``alice``)."""
    return actor.removeprefix("key:")


def _root_content(spans: Sequence[Any]) -> ItemContent:
    root = next((s for s in spans if s.parent_span_id is None), spans[0])

    def part(value: Any, key: str) -> dict[str, Any] | None:
        if value is None:
            return None
        return value if isinstance(value, dict) else {key: value}

    return ItemContent(
        inputs=part(root.inputs, "input") or {},
        outputs=part(root.outputs, "output"),
        metadata={k: v for k, v in (("model", root.model), ("name", root.name)) if v},
    )


class Queues:
    def __init__(self, db: Database, audit: AuditRepository) -> None:
        self.db = db
        self.audit = audit
        self.repo = AnnotationRepository(db)
        self.datasets = Datasets(db, audit)
        self.traces = TraceRepository(db)

    # ---------------------------------------------------------------- creating

    def create_from_dataset(
        self,
        project_id: str,
        name: str,
        *,
        dataset: str,
        schema: LabelSchema,
        version: str | None = None,
        record_ids: Sequence[str] | None = None,
        required: int = 1,
        description: str = "",
        hints: Mapping[str, Mapping[str, Any]] | None = None,
        actor: str,
    ) -> QueueSummary:
        """A queue over a dataset version's records (all, or ``record_ids`` in that order)."""
        check_name(name)
        found = self.datasets.get(project_id, dataset)
        resolved = self.datasets.version(project_id, dataset, version)
        records = self.datasets.records(project_id, dataset, resolved.id)
        if record_ids is not None:
            by_id = {r.id: r for r in records}
            missing = [rid for rid in record_ids if rid not in by_id]
            if missing:
                shown = ", ".join(repr(m) for m in missing[:5])
                raise ValidationError(
                    f"{len(missing)} record id(s) not in {dataset} {resolved.label}: {shown}",
                    details=[{"field": "record_ids", "missing": missing[:100]}],
                )
            if len(set(record_ids)) != len(record_ids):
                raise ValidationError("record_ids has duplicates; list each record once")
            records = [by_id[rid] for rid in record_ids]
        now = utcnow()
        items = [
            Item(
                id=new_id("itm"),
                queue_id="",
                position=n,
                ref=ItemRef(
                    kind="record", record_id=r.id, dataset_id=found.id, version_id=resolved.id
                ),
                content=ItemContent(
                    inputs=r.inputs,
                    outputs=r.outputs,
                    expectations=r.expectations,
                    metadata=r.metadata,
                ),
                hints=dict((hints or {}).get(r.id, {})),
                created_at=now,
            )
            for n, r in enumerate(records)
        ]
        source = {
            "kind": "dataset",
            "dataset": found.name,
            "dataset_id": found.id,
            "version_id": resolved.id,
            "version": resolved.label,
        }
        return self._create(
            project_id, name, schema, required, description, source, items, actor=actor
        )

    def create_from_traces(
        self,
        project_id: str,
        name: str,
        *,
        trace_ids: Sequence[str],
        schema: LabelSchema,
        required: int = 1,
        description: str = "",
        actor: str,
    ) -> QueueSummary:
        """A queue over traces: each item shows the root span's inputs and outputs."""
        check_name(name)
        if len(set(trace_ids)) != len(trace_ids):
            raise ValidationError("trace_ids has duplicates; list each trace once")
        now = utcnow()
        items = []
        for n, trace_id in enumerate(trace_ids):
            self.traces.get(project_id, trace_id)  # NotFoundError names the trace
            spans = self.traces.spans(project_id, trace_id)
            items.append(
                Item(
                    id=new_id("itm"),
                    queue_id="",
                    position=n,
                    ref=ItemRef(kind="trace", trace_id=trace_id),
                    content=_root_content(spans),
                    created_at=now,
                )
            )
        source = {"kind": "traces", "traces": len(trace_ids)}
        return self._create(
            project_id, name, schema, required, description, source, items, actor=actor
        )

    def _create(
        self,
        project_id: str,
        name: str,
        schema: LabelSchema,
        required: int,
        description: str,
        source: dict[str, Any],
        items: list[Item],
        *,
        actor: str,
    ) -> QueueSummary:
        if not items:
            raise ValidationError("a queue needs at least one item")
        if len(items) > MAX_ITEMS:
            raise ValidationError(f"a queue holds at most {MAX_ITEMS} items, got {len(items)}")
        if not 1 <= required <= 20:
            raise ValidationError(f"required annotators per item must be 1..20, got {required}")
        queue = Queue(
            id=new_id("aq"),
            project_id=project_id,
            name=name,
            description=description,
            label_schema=schema,
            required=required,
            source=source,
            created_by=actor,
            created_at=utcnow(),
        )
        items = [i.model_copy(update={"queue_id": queue.id}) for i in items]
        with self.db.begin() as conn:
            self.repo.create_queue(queue, items, conn=conn)
            self.audit.record(
                project_id,
                actor=actor,
                action="annotation.queue.create",
                object_type="annotation_queue",
                object_id=queue.id,
                data={"name": name, "items": len(items), "required": required, **source},
                conn=conn,
            )
        return self.summary(project_id, queue.id)

    # ---------------------------------------------------------------- reading

    def get(self, project_id: str, name: str) -> Queue:
        return self.repo.get_queue(project_id, name)

    def summary(self, project_id: str, name: str) -> QueueSummary:
        queue = self.repo.get_queue(project_id, name)
        return QueueSummary(
            queue=queue,
            progress=self.repo.progress(queue),
            annotators=self.repo.annotators(queue.id),
        )

    def list(self, project_id: str) -> list[QueueSummary]:
        return [
            QueueSummary(queue=q, progress=self.repo.progress(q))
            for q in self.repo.list_queues(project_id)
        ]

    def items(
        self,
        project_id: str,
        name: str,
        *,
        status: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> ItemPage:
        queue = self.repo.get_queue(project_id, name)
        if status is not None and status not in ITEM_STATUSES:
            raise ValidationError(f"unknown status {status!r}; expected one of {ITEM_STATUSES}")
        statuses = None if status is None else [status]
        total = self.repo.count_items(queue.id, statuses=statuses)
        items = self.repo.items(queue.id, statuses=statuses, offset=offset, limit=limit)
        by_item: dict[str, list[Annotation]] = {}
        for a in self.repo.annotations(queue.id, item_ids=[i.id for i in items]):
            by_item.setdefault(a.item_id, []).append(a)
        views = [ItemView(item=i, annotations=by_item.get(i.id, [])) for i in items]
        return ItemPage(queue=queue, total=total, offset=offset, limit=limit, items=views)

    def item(self, project_id: str, name: str, item_id: str) -> ItemView:
        queue = self.repo.get_queue(project_id, name)
        item = self.repo.item(queue.id, item_id)
        return ItemView(item=item, annotations=self.repo.annotations(queue.id, item_ids=[item.id]))

    def agreement(self, project_id: str, name: str) -> AgreementReport:
        queue = self.repo.get_queue(project_id, name)
        answers: dict[str, dict[str, Any]] = {}
        for a in self.repo.annotations(queue.id):
            if a.status == "submitted" and a.value is not None:
                answers.setdefault(a.item_id, {})[a.annotator] = answer_key(a.value)
        finals = {
            i.id: answer_key(i.final)
            for i in self.repo.items(queue.id, statuses=FINAL_STATUSES)
            if i.final is not None
        }
        return agreement(answers, queue.label_schema.level, finals=finals)

    # ---------------------------------------------------------------- assigning

    def assign(
        self,
        project_id: str,
        name: str,
        annotators: Sequence[str],
        *,
        item_ids: Sequence[str] | None = None,
        actor: str,
    ) -> AssignOutcome:
        """Assign items (default: every unsettled item) to each of ``annotators``."""
        names = sorted({check_annotator(a) for a in annotators})
        if not names:
            raise ValidationError("give at least one annotator to assign")
        queue = self.repo.get_queue(project_id, name)
        with self.db.begin() as conn:
            self.repo.lock_queue(queue, conn)
            if item_ids is None:
                targets = self.repo.items(queue.id, statuses=("pending", "disputed"), conn=conn)
            else:
                targets = self.repo.items(queue.id, ids=item_ids, conn=conn)
                missing = sorted(set(item_ids) - {i.id for i in targets})
                if missing:
                    raise ValidationError(
                        f"{len(missing)} item id(s) not in queue {queue.name!r}: "
                        + ", ".join(repr(m) for m in missing[:5])
                    )
            now = utcnow()
            rows = [
                Assignment(
                    queue_id=queue.id,
                    item_id=i.id,
                    annotator=who,
                    assigned_by=actor,
                    assigned_at=now,
                )
                for i in targets
                for who in names
            ]
            added = self.repo.add_assignments(rows, conn=conn)
            self.audit.record(
                project_id,
                actor=actor,
                action="annotation.assign",
                object_type="annotation_queue",
                object_id=queue.id,
                data={"annotators": names, "items": len(targets), "new": added},
                conn=conn,
            )
        return AssignOutcome(assigned=added, items=len(targets), annotators=names)

    def next_item(self, project_id: str, name: str, annotator: str) -> Item | None:
        """The annotator's next item (claimed for them), or None when nothing is left."""
        annotator = check_annotator(annotator)
        queue = self.repo.get_queue(project_id, name)
        with self.db.begin() as conn:
            self.repo.lock_queue(queue, conn)
            mine = self.repo.next_for(queue, annotator, conn=conn)
            if mine is not None:
                return mine
            item = self.repo.first_open(queue, annotator, conn=conn)
            if item is not None:
                claim = Assignment(
                    queue_id=queue.id,
                    item_id=item.id,
                    annotator=annotator,
                    assigned_by=annotator,
                    assigned_at=utcnow(),
                )
                self.repo.add_assignments([claim], conn=conn)
        return item

    # ---------------------------------------------------------------- answering

    def submit(
        self,
        project_id: str,
        name: str,
        item_id: str,
        annotator: str,
        value: Any,
        *,
        comment: str | None = None,
    ) -> ItemView:
        """Record an annotator's answer (replacing theirs) and settle the item if it can be."""
        queue = self.repo.get_queue(project_id, name)
        answer = queue.label_schema.normalize(value)
        return self._answer(queue, item_id, annotator, "submitted", answer, comment)

    def skip(
        self,
        project_id: str,
        name: str,
        item_id: str,
        annotator: str,
        *,
        comment: str | None = None,
    ) -> ItemView:
        """Pass on an item: it goes to someone else and never comes back to this annotator."""
        queue = self.repo.get_queue(project_id, name)
        return self._answer(queue, item_id, annotator, "skipped", None, comment)

    def _answer(
        self,
        queue: Queue,
        item_id: str,
        annotator: str,
        status: AnnotationStatus,
        value: Answer | None,
        comment: str | None,
    ) -> ItemView:
        annotator = check_annotator(annotator)
        if comment is not None and len(comment) > 5000:
            raise ValidationError("a comment is limited to 5000 characters")
        with self.db.begin() as conn:
            self.repo.lock_queue(queue, conn)
            item = self.repo.item(queue.id, item_id, conn=conn)
            if item.status == "adjudicated":
                raise ConflictError(
                    f"item {item_id!r} was adjudicated by {item.final_by}; it takes no more answers"
                )
            now = utcnow()
            self.repo.put_annotation(
                Annotation(
                    id=new_id("ann"),
                    queue_id=queue.id,
                    item_id=item.id,
                    annotator=annotator,
                    status=status,
                    value=value,
                    comment=comment,
                    created_at=now,
                    updated_at=now,
                ),
                conn=conn,
            )
            given = self.repo.annotations(queue.id, item_ids=[item.id], conn=conn)
            self._settle(queue, item, given, conn)
            settled = self.repo.item(queue.id, item.id, conn=conn)
        return ItemView(item=settled, annotations=given)

    def _settle(
        self, queue: Queue, item: Item, given: Sequence[Annotation], conn: Connection
    ) -> None:
        submitted = [a for a in given if a.status == "submitted" and a.value is not None]
        if len(submitted) < queue.required:
            status, final, final_by = "pending", None, None
        elif len({answer_key(a.value) for a in submitted if a.value is not None}) == 1:
            status, final = "resolved", submitted[0].value
            final_by = ", ".join(sorted(a.annotator for a in submitted))
        else:
            status, final, final_by = "disputed", None, None
        if status != item.status or final != item.final:
            final_at = utcnow() if final is not None else None
            self.repo.settle(
                item.id, status, final=final, final_by=final_by, final_at=final_at, conn=conn
            )

    # ---------------------------------------------------------------- adjudication

    def adjudicate(
        self,
        project_id: str,
        name: str,
        item_id: str,
        value: Any,
        *,
        adjudicator: str,
        actor: str,
        reason: str | None = None,
    ) -> ItemView:
        """Decide an item's final label (audited); the item takes no more answers."""
        adjudicator = check_annotator(adjudicator)
        queue = self.repo.get_queue(project_id, name)
        answer = queue.label_schema.normalize(value)
        with self.db.begin() as conn:
            self.repo.lock_queue(queue, conn)
            item = self.repo.item(queue.id, item_id, conn=conn)
            given = self.repo.annotations(queue.id, item_ids=[item.id], conn=conn)
            if not any(a.status == "submitted" for a in given):
                raise ConflictError(
                    f"item {item_id!r} has no answers yet; adjudicate after annotators answered"
                )
            self.repo.settle(
                item.id, "adjudicated", final=answer, final_by=adjudicator, final_at=utcnow(),
                conn=conn,
            )  # fmt: skip
            self.audit.record(
                project_id,
                actor=actor,
                action="annotation.adjudicate",
                object_type="annotation_queue",
                object_id=queue.id,
                reason=reason,
                data={
                    "item": item.id,
                    "final": answer,
                    "previous_status": item.status,
                    "answers": {a.annotator: a.value for a in given if a.status == "submitted"},
                },
                conn=conn,
            )
            settled = self.repo.item(queue.id, item.id, conn=conn)
        return ItemView(item=settled, annotations=given)
