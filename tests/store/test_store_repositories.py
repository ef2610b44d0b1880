"""Repositories for projects, API keys and the audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from llmloop.errors import ConflictError, NotFoundError
from llmloop.records import Project, Role
from llmloop.store import ApiKeyRepository, AuditRepository, Database, ProjectRepository
from llmloop.store.audit import audit_events
from llmloop.store.keys import api_keys
from llmloop.store.projects import projects


@pytest.fixture
def project_repo(db: Database) -> ProjectRepository:
    return ProjectRepository(db)


@pytest.fixture
def key_repo(db: Database) -> ApiKeyRepository:
    return ApiKeyRepository(db)


@pytest.fixture
def audit_repo(db: Database) -> AuditRepository:
    return AuditRepository(db)


@pytest.fixture
def project(project_repo: ProjectRepository) -> Project:
    return project_repo.create("support-bot", "Triage and replies")


def assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


# --------------------------------------------------------------------------- projects


def test_project_create_and_find(project_repo: ProjectRepository, project: Project) -> None:
    assert project.id.startswith("prj_")
    assert project.name == "support-bot"
    assert project.description == "Triage and replies"
    assert project_repo.get(project.id) == project
    assert project_repo.get_by_name("support-bot") == project
    assert project_repo.find(project.id) == project
    assert project_repo.find("support-bot") == project
    assert project_repo.count() == 1


def test_project_duplicate_name_is_a_conflict(
    project_repo: ProjectRepository, project: Project
) -> None:
    with pytest.raises(ConflictError, match="project 'support-bot' already exists"):
        project_repo.create("support-bot", "again")
    assert project_repo.count() == 1
    assert project_repo.get_by_name("support-bot").description == "Triage and replies"


def test_project_missing_is_not_found(project_repo: ProjectRepository) -> None:
    with pytest.raises(NotFoundError, match="project 'prj_nope' not found"):
        project_repo.get("prj_nope")
    with pytest.raises(NotFoundError, match="project 'ghost' not found; list them"):
        project_repo.find("ghost")


def test_project_list_in_creation_order_and_by_ids(project_repo: ProjectRepository) -> None:
    created = [project_repo.create(name) for name in ("zeta", "alpha", "mid")]
    listed = project_repo.list()
    assert {p.id for p in listed} == {p.id for p in created}
    assert [p.created_at for p in listed] == sorted(p.created_at for p in listed)
    assert project_repo.list(ids=[created[0].id, created[2].id]) == sorted(
        [created[0], created[2]], key=lambda p: (p.created_at, p.name)
    )
    assert project_repo.list(ids=[]) == []


# --------------------------------------------------------------------------- api keys


def test_key_secret_is_never_stored(
    db: Database, key_repo: ApiKeyRepository, project: Project
) -> None:
    key, secret = key_repo.create(project.id, "ci", Role.editor)

    assert secret.startswith("llk_")
    assert len(secret) > 40
    assert key.prefix == secret[:12]
    with db.connect() as conn:
        rows = conn.execute(select(api_keys)).mappings().all()
    assert len(rows) == 1
    row = dict(rows[0])
    assert set(row) == {
        "id", "project_id", "name", "role", "prefix", "digest", "public",
        "created_at", "last_used_at", "revoked_at",
    }  # fmt: skip
    assert row["digest"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in row.values())
    assert row["role"] == "editor"


def test_key_authenticate(key_repo: ApiKeyRepository, project: Project) -> None:
    key, secret = key_repo.create(project.id, "ci", Role.editor)
    found = key_repo.authenticate(secret)
    assert found == key
    assert found is not None
    assert found.role is Role.editor
    assert found.project_id == project.id
    assert key_repo.authenticate(secret + "x") is None
    assert key_repo.authenticate("") is None


def test_key_revoke(key_repo: ApiKeyRepository, project: Project) -> None:
    keep, _ = key_repo.create(project.id, "keep", Role.viewer)
    gone, secret = key_repo.create(project.id, "gone", Role.admin)

    revoked = key_repo.revoke(project.id, gone.id)

    assert_utc(revoked.revoked_at)
    assert not revoked.active
    assert key_repo.authenticate(secret) is None
    assert [k.id for k in key_repo.list(project.id)] == [keep.id]
    assert {k.id for k in key_repo.list(project.id, include_revoked=True)} == {keep.id, gone.id}


def test_key_of_another_project_is_not_found(
    key_repo: ApiKeyRepository, project_repo: ProjectRepository, project: Project
) -> None:
    other = project_repo.create("other")
    theirs, secret = key_repo.create(other.id, "theirs", Role.admin)

    with pytest.raises(NotFoundError, match=f"API key {theirs.id!r} not found"):
        key_repo.get(project.id, theirs.id)
    with pytest.raises(NotFoundError):
        key_repo.revoke(project.id, theirs.id)
    assert key_repo.authenticate(secret) == theirs
    assert key_repo.list(project.id) == []


def test_public_key_is_a_viewer_with_its_own_prefix(
    key_repo: ApiKeyRepository, project: Project
) -> None:
    key, secret = key_repo.create(project.id, "browser", Role.admin, public=True)
    assert secret.startswith("llpk_")
    assert key.public
    assert key.role is Role.viewer
    assert key_repo.authenticate(secret) == key


def test_key_touch_records_last_use(key_repo: ApiKeyRepository, project: Project) -> None:
    key, _ = key_repo.create(project.id, "ci", Role.viewer)
    assert key.last_used_at is None
    key_repo.touch(key.id)
    used = key_repo.get(project.id, key.id)
    assert_utc(used.last_used_at)
    assert used.last_used_at is not None
    assert used.last_used_at >= key.created_at


# --------------------------------------------------------------------------- audit


def test_audit_record_round_trips(audit_repo: AuditRepository, project: Project) -> None:
    data = {"name": "ci", "nested": {"list": [1, 2.5, "x", None, True]}, "unicode": "héllo ✓"}
    event = audit_repo.record(
        project.id, actor="key:admin", action="key.create", object_type="api_key",
        object_id="key_1", reason="rotation", data=data,
    )  # fmt: skip
    assert audit_repo.list(project.id) == [event]
    stored = audit_repo.list(project.id)[0]
    assert stored.data == data
    assert stored.reason == "rotation"
    assert_utc(stored.created_at)
    assert audit_repo.count(project.id) == 1


def _insert_event(db: Database, project_id: str, event_id: str, when: datetime, **kw: str) -> None:
    values = {
        "id": event_id, "project_id": project_id, "actor": "tester", "action": "x.do",
        "object_type": "thing", "object_id": "t1", "reason": None, "data": {}, "created_at": when,
    } | kw  # fmt: skip
    with db.begin() as conn:
        conn.execute(audit_events.insert().values(**values))


def test_audit_list_newest_first_with_filters(
    db: Database, audit_repo: AuditRepository, project_repo: ProjectRepository, project: Project
) -> None:
    base = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    _insert_event(db, project.id, "aud_1", base, object_type="prompt", object_id="p1")
    _insert_event(db, project.id, "aud_2", base + timedelta(days=1), object_type="prompt")
    _insert_event(db, project.id, "aud_3", base + timedelta(days=2), object_type="dataset")
    _insert_event(db, project.id, "aud_4", base + timedelta(days=3), object_type="prompt")
    other = project_repo.create("other")
    _insert_event(db, other.id, "aud_other", base + timedelta(days=9), object_type="prompt")

    def ids(**kw: object) -> list[str]:
        return [e.id for e in audit_repo.list(project.id, **kw)]  # type: ignore[arg-type]

    assert ids() == ["aud_4", "aud_3", "aud_2", "aud_1"]
    assert ids(object_type="prompt") == ["aud_4", "aud_2", "aud_1"]
    assert ids(object_type="prompt", object_id="p1") == ["aud_1"]
    assert ids(since=base + timedelta(days=2)) == ["aud_4", "aud_3"]
    assert ids(limit=2) == ["aud_4", "aud_3"]
    assert ids(object_type="nothing") == []
    assert audit_repo.count(project.id) == 4
    assert audit_repo.count(other.id) == 1


def test_audit_event_in_callers_transaction_rolls_back_with_it(
    db: Database, audit_repo: AuditRepository, project: Project
) -> None:
    with pytest.raises(RuntimeError), db.begin() as conn:
        audit_repo.record(
            project.id, actor="a", action="x", object_type="t", object_id="1", conn=conn
        )
        raise RuntimeError("the change failed")
    assert audit_repo.count(project.id) == 0


# --------------------------------------------------------------------------- timestamps


def test_timestamps_are_timezone_aware_utc(
    db: Database, key_repo: ApiKeyRepository, audit_repo: AuditRepository, project: Project
) -> None:
    key, _ = key_repo.create(project.id, "ci", Role.viewer)
    key_repo.revoke(project.id, key.id)
    audit_repo.record(project.id, actor="a", action="x", object_type="t", object_id="1")

    assert_utc(ProjectRepository(db).get(project.id).created_at)
    stored = key_repo.get(project.id, key.id)
    assert_utc(stored.created_at)
    assert_utc(stored.revoked_at)
    assert_utc(audit_repo.list(project.id)[0].created_at)
    with db.connect() as conn:
        raw = conn.execute(select(projects.c.created_at)).scalar_one()
    assert_utc(raw)
    assert raw == project.created_at


def test_other_time_zones_are_stored_as_the_same_instant(db: Database, project: Project) -> None:
    paris = timezone(timedelta(hours=2))
    when = datetime(2026, 6, 1, 14, 30, 15, 123456, tzinfo=paris)
    _insert_event(db, project.id, "aud_tz", when)
    stored = AuditRepository(db).list(project.id)[0].created_at
    assert stored == when
    assert stored.hour == 12
    assert_utc(stored)


def test_naive_timestamps_are_refused(db: Database, project: Project) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        _insert_event(db, project.id, "aud_naive", datetime(2026, 1, 1, 12, 0))
    with db.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM audit_events")).scalar_one() == 0
