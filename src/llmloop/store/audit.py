"""The audit log: every move of a pointer, every key issued, who, when and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, func, select
from sqlalchemy.engine import Connection, RowMapping

from llmloop.records import AuditEvent, new_id, utcnow
from llmloop.store.database import Database
from llmloop.store.schema import JsonType, UtcDateTime, metadata

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("object_type", String(100), nullable=False),
    Column("object_id", String(200), nullable=False),
    Column("reason", Text, nullable=True),
    Column("data", JsonType, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_audit_events_project_time", "project_id", "created_at"),
    Index("ix_audit_events_object", "project_id", "object_type", "object_id"),
)


def _to_event(row: RowMapping) -> AuditEvent:
    return AuditEvent(**{k: row[k] for k in AuditEvent.model_fields})


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        project_id: str,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        reason: str | None = None,
        data: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> AuditEvent:
        """Append an event; pass ``conn`` to commit it with the change it describes."""
        event = AuditEvent(
            id=new_id("aud"),
            project_id=project_id,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            reason=reason,
            data=data or {},
            created_at=utcnow(),
        )
        with self.db.begin(conn) as c:
            c.execute(audit_events.insert().values(**event.model_dump()))
        return event

    def list(
        self,
        project_id: str,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        query = select(audit_events).where(audit_events.c.project_id == project_id)
        if object_type:
            query = query.where(audit_events.c.object_type == object_type)
        if object_id:
            query = query.where(audit_events.c.object_id == object_id)
        if since:
            query = query.where(audit_events.c.created_at >= since)
        query = query.order_by(audit_events.c.created_at.desc(), audit_events.c.id).limit(limit)
        with self.db.connect() as c:
            return [_to_event(r) for r in c.execute(query).mappings()]

    def count(self, project_id: str) -> int:
        query = select(func.count()).where(audit_events.c.project_id == project_id)
        with self.db.connect() as c:
            return int(c.execute(query).scalar_one())
