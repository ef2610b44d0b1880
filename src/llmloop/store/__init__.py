"""Persistence: one table family and one repository per aggregate.

``open_database(url)`` picks the engine by URL scheme, refuses a schema newer than
this code and applies the shipped migrations.
"""

from __future__ import annotations

from llmloop.store.audit import AuditRepository
from llmloop.store.database import Database
from llmloop.store.keys import ApiKeyRepository
from llmloop.store.migrate import check_not_newer, upgrade
from llmloop.store.projects import ProjectRepository


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open (and by default migrate) the database at ``url``."""
    db = Database(url)
    try:
        check_not_newer(db)
        if migrate:
            upgrade(db)
    except BaseException:
        db.close()
        raise
    return db


__all__ = [
    "ApiKeyRepository",
    "AuditRepository",
    "Database",
    "ProjectRepository",
    "open_database",
]
