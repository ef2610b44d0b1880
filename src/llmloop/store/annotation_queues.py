"""Annotation queues: their items, who is assigned to what, and the answers given.

Rows only; the rules (who gets which item next, when an item is settled, promotion to a
golden set) live in :mod:`llmloop.annotation`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    exists,
    func,
    select,
)
from sqlalchemy.engine import Connection, RowMapping

from llmloop.errors import ConflictError, NotFoundError
from llmloop.store.annotation_types import (
    Annotation,
    Answer,
    Assignment,
    Item,
    ItemContent,
    ItemRef,
    LabelSchema,
    Progress,
    Queue,
)
from llmloop.store.database import Database
from llmloop.store.schema import JsonType, UtcDateTime, metadata

annotation_queues = Table(
    "annotation_queues",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("label_schema", JsonType, nullable=False),
    Column("required", Integer, nullable=False),
    Column("source", JsonType, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("project_id", "name"),
)

annotation_items = Table(
    "annotation_items",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "queue_id",
        String(64),
        ForeignKey("annotation_queues.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer, nullable=False),
    Column("ref", JsonType, nullable=False),
    Column("content", JsonType, nullable=False),
    Column("hints", JsonType, nullable=False),
    Column("status", String(20), nullable=False),
    Column("final", JsonType, nullable=True),
    Column("final_by", String(200), nullable=True),
    Column("final_at", UtcDateTime, nullable=True),
    Column("promoted_version", String(80), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("queue_id", "position"),
    Index("ix_annotation_items_queue_status", "queue_id", "status"),
)

annotation_assignments = Table(
    "annotation_assignments",
    metadata,
    Column("queue_id", String(64), nullable=False),
    Column(
        "item_id",
        String(64),
        ForeignKey("annotation_items.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("annotator", String(200), nullable=False),
    Column("assigned_by", String(200), nullable=False),
    Column("assigned_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("item_id", "annotator"),
    Index("ix_annotation_assignments_queue_annotator", "queue_id", "annotator"),
)

annotation_answers = Table(
    "annotation_answers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("queue_id", String(64), nullable=False),
    Column(
        "item_id",
        String(64),
        ForeignKey("annotation_items.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("annotator", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("value", JsonType, nullable=True),
    Column("comment", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("item_id", "annotator"),
    Index("ix_annotation_answers_queue", "queue_id"),
)


# --------------------------------------------------------------------------- conversion


def _to_queue(row: RowMapping) -> Queue:
    return Queue(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        description=row["description"],
        label_schema=LabelSchema.model_validate(row["label_schema"]),
        required=row["required"],
        source=row["source"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def _to_item(row: RowMapping) -> Item:
    return Item(
        id=row["id"],
        queue_id=row["queue_id"],
        position=row["position"],
        ref=ItemRef.model_validate(row["ref"]),
        content=ItemContent.model_validate(row["content"]),
        hints=row["hints"],
        status=row["status"],
        final=row["final"],
        final_by=row["final_by"],
        final_at=row["final_at"],
        promoted_version=row["promoted_version"],
        created_at=row["created_at"],
    )


def _item_row(item: Item) -> dict[str, Any]:
    row = item.model_dump(mode="python", exclude={"ref", "content"})
    row["ref"] = item.ref.model_dump(mode="json")
    row["content"] = item.content.model_dump(mode="json")
    return row


def _to_annotation(row: RowMapping) -> Annotation:
    return Annotation(**{k: row[k] for k in Annotation.model_fields})


def _to_assignment(row: RowMapping) -> Assignment:
    return Assignment(**{k: row[k] for k in Assignment.model_fields})


# --------------------------------------------------------------------------- repository


class AnnotationRepository:
    """Rows of queues, items, assignments and annotations."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---------------------------------------------------------------- queues

    def create_queue(self, queue: Queue, items: Sequence[Item], *, conn: Connection) -> None:
        if self._find(conn, queue.project_id, queue.name) is not None:
            raise ConflictError(
                f"queue {queue.name!r} already exists in this project; pick another name"
            )
        row = queue.model_dump(mode="python", exclude={"label_schema"})
        conn.execute(
            annotation_queues.insert().values(
                **row, label_schema=queue.label_schema.model_dump(mode="json")
            )
        )
        rows = [_item_row(i) for i in items]
        for start in range(0, len(rows), 1000):
            conn.execute(annotation_items.insert(), rows[start : start + 1000])

    @staticmethod
    def _find(c: Connection, project_id: str, name_or_id: str) -> Queue | None:
        query = select(annotation_queues).where(
            annotation_queues.c.project_id == project_id,
            (annotation_queues.c.name == name_or_id) | (annotation_queues.c.id == name_or_id),
        )
        row = c.execute(query).mappings().first()
        return None if row is None else _to_queue(row)

    def get_queue(
        self, project_id: str, name_or_id: str, *, conn: Connection | None = None
    ) -> Queue:
        with self.db.connect() if conn is None else nullcontext(conn) as c:
            queue = self._find(c, project_id, name_or_id)
        if queue is None:
            raise NotFoundError(f"annotation queue {name_or_id!r} not found in this project")
        return queue

    def lock_queue(self, queue: Queue, conn: Connection) -> None:
        """Hold the queue's row until ``conn`` commits, so pulls and settles serialise."""
        query = (
            select(annotation_queues.c.id)
            .where(annotation_queues.c.id == queue.id)
            .with_for_update()
        )
        conn.execute(query)

    def list_queues(self, project_id: str) -> list[Queue]:
        query = (
            select(annotation_queues)
            .where(annotation_queues.c.project_id == project_id)
            .order_by(annotation_queues.c.created_at.desc(), annotation_queues.c.name)
        )
        with self.db.connect() as c:
            return [_to_queue(r) for r in c.execute(query).mappings()]

    def count_queues(self, project_id: str) -> int:
        query = select(func.count()).where(annotation_queues.c.project_id == project_id)
        with self.db.connect() as c:
            return int(c.execute(query).scalar_one())

    # ---------------------------------------------------------------- items

    def items(
        self,
        queue_id: str,
        *,
        statuses: Iterable[str] | None = None,
        ids: Iterable[str] | None = None,
        offset: int = 0,
        limit: int | None = None,
        conn: Connection | None = None,
    ) -> list[Item]:
        query = select(annotation_items).where(annotation_items.c.queue_id == queue_id)
        if statuses is not None:
            query = query.where(annotation_items.c.status.in_(list(statuses)))
        if ids is not None:
            query = query.where(annotation_items.c.id.in_(list(ids)))
        query = query.order_by(annotation_items.c.position).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.db.connect() if conn is None else nullcontext(conn) as c:
            return [_to_item(r) for r in c.execute(query).mappings()]

    def count_items(self, queue_id: str, *, statuses: Iterable[str] | None = None) -> int:
        query = select(func.count()).where(annotation_items.c.queue_id == queue_id)
        if statuses is not None:
            query = query.where(annotation_items.c.status.in_(list(statuses)))
        with self.db.connect() as c:
            return int(c.execute(query).scalar_one())

    def item(self, queue_id: str, item_id: str, *, conn: Connection | None = None) -> Item:
        found = self.items(queue_id, ids=[item_id], conn=conn)
        if not found:
            raise NotFoundError(f"item {item_id!r} not found in this queue")
        return found[0]

    def settle(
        self,
        item_id: str,
        status: str,
        *,
        final: Answer | None,
        final_by: str | None,
        final_at: datetime | None,
        conn: Connection,
    ) -> None:
        conn.execute(
            annotation_items.update()
            .where(annotation_items.c.id == item_id)
            .values(status=status, final=final, final_by=final_by, final_at=final_at)
        )

    def mark_promoted(self, item_ids: Sequence[str], version_id: str, *, conn: Connection) -> None:
        for start in range(0, len(item_ids), 500):
            conn.execute(
                annotation_items.update()
                .where(annotation_items.c.id.in_(item_ids[start : start + 500]))
                .values(promoted_version=version_id)
            )

    def next_for(self, queue: Queue, annotator: str, *, conn: Connection) -> Item | None:
        """The first pending item assigned to ``annotator`` and not answered by them."""
        items, answers, assigned = annotation_items, annotation_answers, annotation_assignments
        answered = exists().where(answers.c.item_id == items.c.id, answers.c.annotator == annotator)
        query = (
            select(items)
            .join(
                assigned,
                (assigned.c.item_id == items.c.id) & (assigned.c.annotator == annotator),
            )
            .where(items.c.queue_id == queue.id, items.c.status == "pending", ~answered)
            .order_by(items.c.position)
            .limit(1)
        )
        row = conn.execute(query).mappings().first()
        return None if row is None else _to_item(row)

    def first_open(self, queue: Queue, annotator: str, *, conn: Connection) -> Item | None:
        """The first pending item with a free place that ``annotator`` has not touched.

        A place is held by an assigned annotator who did not skip, or by one who answered.
        """
        items, answers, assigned = annotation_items, annotation_answers, annotation_assignments
        touched = exists().where(
            answers.c.item_id == items.c.id, answers.c.annotator == annotator
        ) | exists().where(assigned.c.item_id == items.c.id, assigned.c.annotator == annotator)
        skipped = exists().where(
            answers.c.item_id == assigned.c.item_id,
            answers.c.annotator == assigned.c.annotator,
            answers.c.status == "skipped",
        )
        holding = (
            select(func.count())
            .select_from(assigned)
            .where(assigned.c.item_id == items.c.id, ~skipped)
            .scalar_subquery()
        )
        was_assigned = exists().where(
            assigned.c.item_id == answers.c.item_id, assigned.c.annotator == answers.c.annotator
        )
        answering = (
            select(func.count())
            .select_from(answers)
            .where(answers.c.item_id == items.c.id, answers.c.status == "submitted", ~was_assigned)
            .scalar_subquery()
        )
        query = (
            select(items)
            .where(
                items.c.queue_id == queue.id,
                items.c.status == "pending",
                ~touched,
                holding + answering < queue.required,
            )
            .order_by(items.c.position)
            .limit(1)
        )
        row = conn.execute(query).mappings().first()
        return None if row is None else _to_item(row)

    # ---------------------------------------------------------------- assignments

    def assignments(
        self,
        queue_id: str,
        *,
        annotator: str | None = None,
        conn: Connection | None = None,
    ) -> list[Assignment]:
        query = select(annotation_assignments).where(annotation_assignments.c.queue_id == queue_id)
        if annotator is not None:
            query = query.where(annotation_assignments.c.annotator == annotator)
        with self.db.connect() if conn is None else nullcontext(conn) as c:
            return [_to_assignment(r) for r in c.execute(query).mappings()]

    def add_assignments(self, rows: Sequence[Assignment], *, conn: Connection) -> int:
        """Insert assignments that do not exist yet; return how many were new."""
        if not rows:
            return 0
        ids = sorted({r.item_id for r in rows})
        existing: set[tuple[str, str]] = set()
        for start in range(0, len(ids), 500):
            query = select(
                annotation_assignments.c.item_id, annotation_assignments.c.annotator
            ).where(annotation_assignments.c.item_id.in_(ids[start : start + 500]))
            existing.update((r.item_id, r.annotator) for r in conn.execute(query))
        new = [r.model_dump() for r in rows if (r.item_id, r.annotator) not in existing]
        for start in range(0, len(new), 1000):
            conn.execute(annotation_assignments.insert(), new[start : start + 1000])
        return len(new)

    # ---------------------------------------------------------------- annotations

    def annotations(
        self,
        queue_id: str,
        *,
        item_ids: Iterable[str] | None = None,
        annotator: str | None = None,
        conn: Connection | None = None,
    ) -> list[Annotation]:
        query = select(annotation_answers).where(annotation_answers.c.queue_id == queue_id)
        if item_ids is not None:
            query = query.where(annotation_answers.c.item_id.in_(list(item_ids)))
        if annotator is not None:
            query = query.where(annotation_answers.c.annotator == annotator)
        query = query.order_by(annotation_answers.c.created_at, annotation_answers.c.annotator)
        with self.db.connect() if conn is None else nullcontext(conn) as c:
            return [_to_annotation(r) for r in c.execute(query).mappings()]

    def put_annotation(self, annotation: Annotation, *, conn: Connection) -> Annotation:
        """Insert, or replace the annotator's earlier answer on the same item."""
        where = (
            annotation_answers.c.item_id == annotation.item_id,
            annotation_answers.c.annotator == annotation.annotator,
        )
        earlier = conn.execute(select(annotation_answers).where(*where)).mappings().first()
        if earlier is None:
            conn.execute(annotation_answers.insert().values(**annotation.model_dump()))
            return annotation
        kept = annotation.model_copy(
            update={"id": earlier["id"], "created_at": earlier["created_at"]}
        )
        values = kept.model_dump(include={"status", "value", "comment", "updated_at"})
        conn.execute(annotation_answers.update().where(*where).values(**values))
        return kept

    # ---------------------------------------------------------------- progress

    def progress(self, queue: Queue, *, conn: Connection | None = None) -> Progress:
        items, answers = annotation_items, annotation_answers
        by_status = (
            select(items.c.status, func.count())
            .where(items.c.queue_id == queue.id)
            .group_by(items.c.status)
        )
        promoted = select(func.count()).where(
            items.c.queue_id == queue.id, items.c.promoted_version.is_not(None)
        )
        totals = (
            select(answers.c.status, func.count())
            .where(answers.c.queue_id == queue.id)
            .group_by(answers.c.status)
        )
        per_pending = (
            select(func.count().label("n"))
            .select_from(answers.join(items, items.c.id == answers.c.item_id))
            .where(
                items.c.queue_id == queue.id,
                items.c.status == "pending",
                answers.c.status == "submitted",
            )
            .group_by(answers.c.item_id)
            .subquery()
        )
        capped = case((per_pending.c.n > queue.required, queue.required), else_=per_pending.c.n)
        given = select(func.coalesce(func.sum(capped), 0))
        with self.db.connect() if conn is None else nullcontext(conn) as c:
            counts = {str(s): int(n) for s, n in c.execute(by_status)}
            answered = {str(s): int(n) for s, n in c.execute(totals)}
            promoted_n = int(c.execute(promoted).scalar_one())
            given_on_pending = int(c.execute(given).scalar_one())
        pending = counts.get("pending", 0)
        return Progress(
            items=sum(counts.values()),
            pending=pending,
            disputed=counts.get("disputed", 0),
            resolved=counts.get("resolved", 0),
            adjudicated=counts.get("adjudicated", 0),
            promoted=promoted_n,
            submitted=answered.get("submitted", 0),
            skipped=answered.get("skipped", 0),
            needed=max(0, pending * queue.required - given_on_pending),
        )

    def annotators(self, queue_id: str) -> builtins.list[str]:
        query = (
            select(annotation_answers.c.annotator)
            .where(annotation_answers.c.queue_id == queue_id)
            .distinct()
            .order_by(annotation_answers.c.annotator)
        )
        with self.db.connect() as c:
            return [r.annotator for r in c.execute(query)]
