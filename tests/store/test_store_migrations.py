"""Migrations: applied on an empty database, idempotent, matching the table metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from llmloop.errors import SchemaTooNewError, StoreError
from llmloop.store import Database, ProjectRepository, open_database
from llmloop.store.migrate import current_revision, head_revision, is_current, upgrade
from llmloop.store.schema import metadata
from support import PostgresServer

FOUNDATION_TABLES = {"projects", "api_keys", "audit_events"}


def test_migrations_apply_on_an_empty_database(db_url: str) -> None:
    bare = Database(db_url)
    try:
        assert bare.table_names() == []
        assert current_revision(bare) is None
    finally:
        bare.close()

    db = open_database(db_url)
    try:
        assert FOUNDATION_TABLES | {"alembic_version"} <= set(db.table_names())
        assert current_revision(db) == head_revision()
        assert is_current(db)
    finally:
        db.close()


def test_open_database_without_migrate_leaves_the_database_empty(db_url: str) -> None:
    db = open_database(db_url, migrate=False)
    try:
        assert db.table_names() == []
        assert not is_current(db)
    finally:
        db.close()


def test_migrations_are_idempotent_and_keep_data(db: Database, db_url: str) -> None:
    project = ProjectRepository(db).create("kept")

    assert upgrade(db) == head_revision()
    assert upgrade(db) == head_revision()
    again = open_database(db_url)
    try:
        assert current_revision(again) == head_revision()
        with again.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(head_revision(),)]
        assert ProjectRepository(again).list() == [project]
    finally:
        again.close()


def test_migration_matches_table_metadata(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "target_metadata": metadata}
        )
        diffs = compare_metadata(context, metadata)
    assert diffs == []


def test_every_table_in_metadata_is_created_with_its_indexes(db: Database) -> None:
    inspector = inspect(db.engine)
    assert set(metadata.tables) <= set(inspector.get_table_names())
    for table in metadata.tables.values():
        expected = {ix.name for ix in table.indexes}
        assert expected <= {ix["name"] for ix in inspector.get_indexes(table.name)}, table.name


def test_unknown_revision_is_refused_naming_it(db: Database, db_url: str) -> None:
    with db.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))

    for migrate in (True, False):
        with pytest.raises(SchemaTooNewError) as info:
            open_database(db_url, migrate=migrate)
        message = str(info.value)
        assert "'9999_from_the_future'" in message
        assert head_revision() in message
        assert "upgrade llmloop" in message
        assert info.value.code == "schema_too_new"

    with db.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == (
            "9999_from_the_future"
        )


def test_upgrade_refuses_an_unknown_revision_too(db: Database) -> None:
    with db.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'zz_unknown'"))
    with pytest.raises(SchemaTooNewError, match="'zz_unknown'"):
        upgrade(db)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "database URL 'not a url' is not a valid SQLAlchemy URL"),
        ("mysql://root@localhost/llmloop", "'mysql://root@localhost/llmloop': backend 'mysql'"),
        ("sqlite+nosuchdriver:///x.db", "'sqlite+nosuchdriver:///x.db': driver not installed"),
        (
            "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "could not open database 'postgresql+psycopg://nobody@127.0.0.1:1/none'",
        ),
    ],
    ids=["unparseable", "unsupported-backend", "missing-driver", "unreachable-server"],
)
def test_bad_database_url_gives_store_error_naming_it(url: str, expected: str) -> None:
    with pytest.raises(StoreError) as info:
        open_database(url)
    assert expected in str(info.value)


def test_database_url_errors_never_show_the_password() -> None:
    for url in (
        "mysql://root:hunter2@localhost/llmloop",
        "postgresql+psycopg://nobody:hunter2@127.0.0.1:1/none",
    ):
        with pytest.raises(StoreError) as info:
            open_database(url)
        assert "hunter2" not in str(info.value)
        assert "***" in str(info.value)


def test_sqlite_path_that_cannot_be_created_gives_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    url = f"sqlite:///{blocker}/sub/llmloop.db"
    with pytest.raises(StoreError) as info:
        open_database(url)
    assert str(blocker) in str(info.value)


@pytest.mark.postgres
def test_postgres_scheme_aliases_are_normalised(postgres_server: PostgresServer) -> None:
    schema = postgres_server.create_schema()
    try:
        url = postgres_server.url_for(schema).replace("postgresql+psycopg://", "postgres://", 1)
        db = open_database(url)
        try:
            assert db.url.startswith("postgresql+psycopg://")
            assert db.dialect == "postgresql"
            assert current_revision(db) == head_revision()
        finally:
            db.close()
    finally:
        postgres_server.drop_schema(schema)
