"""Tenancy rules: roles, public keys, bootstrap, and audit written with each change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from llmloop.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from llmloop.records import Role
from llmloop.runtime import Runtime
from llmloop.store import Database
from llmloop.tenancy import LOCAL_ACTOR, Principal, Tenancy

ORDER = [Role.viewer, Role.editor, Role.admin]


@pytest.fixture
def tenancy(db: Database) -> Tenancy:
    return Tenancy(db)


def test_roles_are_ordered_viewer_editor_admin() -> None:
    for have in ORDER:
        for needed in ORDER:
            assert have.allows(needed) is (ORDER.index(have) >= ORDER.index(needed)), (
                have,
                needed,
            )
    assert [r.rank for r in ORDER] == [0, 1, 2]


def test_principal_require_enforces_the_role(tenancy: Tenancy) -> None:
    project = tenancy.create_project("roles", actor="t")
    for role in ORDER:
        key, secret = tenancy.create_key(project.id, f"k-{role.value}", role, actor="t")
        principal = tenancy.authenticate(secret)
        assert principal.role is role
        assert principal.actor == f"key:k-{role.value}"
        assert principal.project == project
        assert principal.key == key
        for needed in ORDER:
            if role.allows(needed):
                principal.require(needed)
            else:
                with pytest.raises(PermissionDeniedError) as info:
                    principal.require(needed)
                assert (
                    f"needs the {needed.value!r} role; the key 'key:k-{role.value}' "
                    f"has {role.value!r}"
                ) in info.value.message
                assert info.value.status == 403


def test_public_key_can_do_nothing_but_feedback(tenancy: Tenancy) -> None:
    project = tenancy.create_project("public", actor="t")
    key, secret = tenancy.create_key(project.id, "web", Role.admin, actor="t", public=True)
    assert key.role is Role.viewer
    principal = tenancy.authenticate(secret)
    assert principal.public
    for needed in ORDER:
        with pytest.raises(PermissionDeniedError, match="public ingestion key may only send"):
            principal.require(needed)


def test_local_principal_is_admin_of_its_project(tenancy: Tenancy) -> None:
    principal = tenancy.local_principal("laptop")
    assert principal == Principal(
        project=tenancy.projects.get_by_name("laptop"), role=Role.admin, actor=LOCAL_ACTOR
    )
    assert not principal.public
    principal.require(Role.admin)
    assert tenancy.local_principal("laptop").project == principal.project
    assert tenancy.projects.count() == 1


def test_authenticate_errors_say_what_to_do(tenancy: Tenancy) -> None:
    project = tenancy.create_project("auth", actor="t")
    key, secret = tenancy.create_key(project.id, "k", Role.viewer, actor="t")
    for missing in (None, ""):
        with pytest.raises(AuthenticationError, match="missing API key: send 'Authorization"):
            tenancy.authenticate(missing)
    with pytest.raises(AuthenticationError, match="invalid or revoked API key"):
        tenancy.authenticate("llk_not-a-real-key")
    tenancy.revoke_key(project.id, key.id, actor="t")
    with pytest.raises(AuthenticationError, match="invalid or revoked API key"):
        tenancy.authenticate(secret)


def test_bootstrap_creates_one_admin_key_once(tenancy: Tenancy) -> None:
    project, secret = tenancy.bootstrap()
    assert project.name == "default"
    assert secret is not None
    principal = tenancy.authenticate(secret)
    assert principal.role is Role.admin
    assert principal.project == project

    again, second = tenancy.bootstrap()
    assert again == project
    assert second is None
    keys = tenancy.keys.list(project.id)
    assert [(k.name, k.role) for k in keys] == [("local-admin", Role.admin)]
    assert tenancy.projects.count() == 1
    actions = sorted((e.actor, e.action) for e in tenancy.history(project.id))
    assert actions == [("bootstrap", "key.create"), ("bootstrap", "project.create")]


def test_bootstrap_issues_a_new_admin_key_when_the_old_one_is_revoked(tenancy: Tenancy) -> None:
    project, secret = tenancy.bootstrap("team")
    assert secret is not None
    (old,) = tenancy.keys.list(project.id)
    tenancy.revoke_key(project.id, old.id, actor="t")

    _, fresh = tenancy.bootstrap("team")

    assert fresh is not None
    assert fresh != secret
    assert tenancy.authenticate(fresh).role is Role.admin
    assert len(tenancy.keys.list(project.id)) == 1


def test_create_and_revoke_key_are_audited(tenancy: Tenancy) -> None:
    project = tenancy.create_project("audited", "desc", actor="alice")
    key, _ = tenancy.create_key(project.id, "ci", Role.editor, actor="alice")
    revoked_key = tenancy.revoke_key(project.id, key.id, actor="bob", reason="leaked in a log")
    assert revoked_key.id == key.id
    assert revoked_key.revoked_at is not None
    assert not revoked_key.active

    events = tenancy.history(project.id)
    assert [(e.action, e.actor, e.object_type, e.object_id) for e in events[::-1]] == [
        ("project.create", "alice", "project", project.id),
        ("key.create", "alice", "api_key", key.id),
        ("key.revoke", "bob", "api_key", key.id),
    ]
    created, revoked = events[1], events[0]
    assert created.data == {"name": "ci", "role": "editor", "public": False}
    assert revoked.reason == "leaked in a log"
    assert [e.id for e in tenancy.history(project.id, object_type="project")] == [events[2].id]


@contextmanager
def audit_table_missing(db: Database) -> Iterator[None]:
    """Make every audit insert fail, to see that the change it describes rolls back too."""
    with db.begin() as conn:
        conn.execute(text("ALTER TABLE audit_events RENAME TO audit_events_away"))
    try:
        yield
    finally:
        with db.begin() as conn:
            conn.execute(text("ALTER TABLE audit_events_away RENAME TO audit_events"))


def test_change_and_audit_event_are_one_transaction(db: Database, tenancy: Tenancy) -> None:
    project = tenancy.create_project("atomic", actor="t")
    key, secret = tenancy.create_key(project.id, "keep", Role.admin, actor="t")

    with audit_table_missing(db):
        with pytest.raises(SQLAlchemyError):
            tenancy.create_key(project.id, "never", Role.viewer, actor="t")
        with pytest.raises(SQLAlchemyError):
            tenancy.revoke_key(project.id, key.id, actor="t")
        with pytest.raises(SQLAlchemyError):
            tenancy.create_project("never", actor="t")

    assert [k.name for k in tenancy.keys.list(project.id, include_revoked=True)] == ["keep"]
    assert tenancy.authenticate(secret).key == key
    assert [p.name for p in tenancy.projects.list()] == ["atomic"]
    assert tenancy.audit.count(project.id) == 2


def test_create_key_needs_a_name(tenancy: Tenancy) -> None:
    project = tenancy.create_project("names", actor="t")
    for name in ("", "   "):
        with pytest.raises(ValidationError, match="a key needs a non-empty name"):
            tenancy.create_key(project.id, name, Role.viewer, actor="t")
    for name in ("ci\x00bot", "tab\there", "new\nline"):
        with pytest.raises(ValidationError, match="contains control characters") as info:
            tenancy.create_key(project.id, name, Role.viewer, actor="t")
        assert info.value.details[0]["field"] == "name"
    assert tenancy.keys.list(project.id) == []
    key, _ = tenancy.create_key(project.id, "héllo ✓ bot", Role.viewer, actor="t")
    assert tenancy.keys.get(project.id, key.id).name == "héllo ✓ bot"


@pytest.mark.parametrize("name", ["Bad Name!", "", "UPPER", "-leading", "x" * 64, "a/b"])
def test_invalid_project_names_are_refused(tenancy: Tenancy, name: str) -> None:
    with pytest.raises(ValidationError) as info:
        tenancy.create_project(name, actor="t")
    assert f"project name {name!r} is invalid" in info.value.message
    assert info.value.details == [
        {"field": "name", "message": info.value.message, "type": "invalid_name"}
    ]
    assert tenancy.projects.count() == 0


def test_duplicate_project_is_a_conflict_and_writes_no_audit(tenancy: Tenancy) -> None:
    project = tenancy.create_project("dup", actor="t")
    with pytest.raises(ConflictError, match="project 'dup' already exists"):
        tenancy.create_project("dup", actor="t")
    assert tenancy.audit.count(project.id) == 1


def test_revoking_another_projects_key_is_not_found(tenancy: Tenancy) -> None:
    mine = tenancy.create_project("mine", actor="t")
    theirs = tenancy.create_project("theirs", actor="t")
    key, secret = tenancy.create_key(theirs.id, "k", Role.admin, actor="t")
    with pytest.raises(NotFoundError):
        tenancy.revoke_key(mine.id, key.id, actor="t")
    assert tenancy.authenticate(secret).project == theirs
    assert tenancy.audit.count(mine.id) == 1
    assert tenancy.audit.count(theirs.id) == 2


def test_ensure_project_is_idempotent(tenancy: Tenancy) -> None:
    first = tenancy.ensure_project("once")
    assert tenancy.ensure_project("once") == first
    assert tenancy.projects.count() == 1
    assert tenancy.audit.count(first.id) == 1


def test_authenticate_records_last_use(runtime: Runtime) -> None:
    project = runtime.tenancy.create_project("touchy", actor="t")
    key, secret = runtime.tenancy.create_key(project.id, "k", Role.viewer, actor="t")
    assert key.last_used_at is None
    runtime.tenancy.authenticate(secret)
    used = runtime.tenancy.keys.get(project.id, key.id).last_used_at
    assert used is not None
    runtime.tenancy.authenticate(secret)  # within the interval: no second write
    assert runtime.tenancy.keys.get(project.id, key.id).last_used_at == used
