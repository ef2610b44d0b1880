"""Alembic migrations shipped in the package: apply, inspect, refuse a newer schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from llmloop.errors import SchemaTooNewError
from llmloop.store import (  # noqa: F401  (register tables on metadata)
    annotation_queues,
    audit,
    datasets,
    deployments,
    evaluations,
    experiments,
    keys,
    label_matrices,
    projects,
    prompts,
    trace_rollups,
    traces,
)
from llmloop.store.database import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_not_newer(db: Database) -> None:
    """Refuse a database migrated by a newer llmloop than this one."""
    current = current_revision(db)
    if current is None:
        return
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    try:
        script.get_revision(current)
    except Exception:  # alembic raises several kinds for an unknown revision
        raise SchemaTooNewError(
            f"database {db.safe_url!r} has schema revision {current!r}, newer than this "
            f"llmloop knows (head {head_revision()!r}); upgrade llmloop "
            "(pip install -U llmloop) or point LLMLOOP_DATABASE_URL at another database"
        ) from None


def upgrade(db: Database, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; return the revision now in force."""
    check_not_newer(db)
    cfg = alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return current_revision(db)


def is_current(db: Database) -> bool:
    return current_revision(db) == head_revision()
