"""Projects, keys and who is acting: the tenancy feature.

Repositories persist; this module holds the rules: a key belongs to one project and
has one role, every key issued or revoked is audited, public keys only ingest feedback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pydantic

from llmloop.errors import AuthenticationError, PermissionDeniedError, ValidationError
from llmloop.records import ApiKey, AuditEvent, Project, Role, utcnow
from llmloop.store import ApiKeyRepository, AuditRepository, Database, ProjectRepository

LOCAL_ACTOR = "local"
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key and its project, or the local single user."""

    project: Project
    role: Role
    actor: str
    key: ApiKey | None = None

    @property
    def public(self) -> bool:
        return self.key is not None and self.key.public

    def require(self, needed: Role) -> None:
        if self.public:
            raise PermissionDeniedError(
                "a public ingestion key may only send end-user feedback; use a project key"
            )
        if not self.role.allows(needed):
            raise PermissionDeniedError(
                f"this action needs the {needed.value!r} role; the key {self.actor!r} "
                f"has {self.role.value!r}"
            )


class Tenancy:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.projects = ProjectRepository(db)
        self.keys = ApiKeyRepository(db)
        self.audit = AuditRepository(db)

    # ---------------------------------------------------------------- projects

    def create_project(self, name: str, description: str = "", *, actor: str) -> Project:
        _check_name(name)
        with self.db.begin() as conn:
            project = self.projects.create(name, description, conn=conn)
            self.audit.record(
                project.id,
                actor=actor,
                action="project.create",
                object_type="project",
                object_id=project.id,
                data={"name": name},
                conn=conn,
            )
        return project

    def ensure_project(self, name: str, *, actor: str = LOCAL_ACTOR) -> Project:
        """The project called ``name``, created when missing."""
        found = [p for p in self.projects.list() if p.name == name]
        return found[0] if found else self.create_project(name, actor=actor)

    # ---------------------------------------------------------------- keys

    def create_key(
        self, project_id: str, name: str, role: Role, *, actor: str, public: bool = False
    ) -> tuple[ApiKey, str]:
        if not name.strip():
            raise ValidationError("a key needs a non-empty name")
        if not name.isprintable():
            message = f"key name {name!r} contains control characters; use printable text"
            details = [{"field": "name", "message": message, "type": "invalid_name"}]
            raise ValidationError(message, details=details)
        with self.db.begin() as conn:
            key, secret = self.keys.create(project_id, name, role, public=public, conn=conn)
            self.audit.record(
                project_id,
                actor=actor,
                action="key.create",
                object_type="api_key",
                object_id=key.id,
                data={"name": name, "role": key.role.value, "public": public},
                conn=conn,
            )
        return key, secret

    def revoke_key(
        self, project_id: str, key_id: str, *, actor: str, reason: str | None = None
    ) -> ApiKey:
        with self.db.begin() as conn:
            key = self.keys.revoke(project_id, key_id, conn=conn)
            self.audit.record(
                project_id,
                actor=actor,
                action="key.revoke",
                object_type="api_key",
                object_id=key_id,
                reason=reason,
                conn=conn,
            )
        return key

    def authenticate(self, secret: str | None) -> Principal:
        """The principal for a bearer secret, or AuthenticationError."""
        if not secret:
            raise AuthenticationError(
                "missing API key: send 'Authorization: Bearer <key>' "
                "(create one with `llmloop keys create`)"
            )
        key = self.keys.authenticate(secret)
        if key is None:
            raise AuthenticationError("invalid or revoked API key")
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at > TOUCH_EVERY:
            self.keys.touch(key.id)  # at most one write per key per interval
        project = self.projects.get(key.project_id)
        return Principal(project=project, role=key.role, actor=f"key:{key.name}", key=key)

    def local_principal(self, project_name: str) -> Principal:
        """The local single user, admin of the named project (created when missing)."""
        project = self.ensure_project(project_name)
        return Principal(project=project, role=Role.admin, actor=LOCAL_ACTOR)

    def bootstrap(self, project_name: str = "default") -> tuple[Project, str | None]:
        """Make sure a default project with an admin key exists.

        Returns the project and the new key's secret when one was created (to be shown
        once), or None when the project already had an active admin key.
        """
        project = self.ensure_project(project_name, actor="bootstrap")
        if any(k.role is Role.admin and not k.public for k in self.keys.list(project.id)):
            return project, None
        _, secret = self.create_key(project.id, "local-admin", Role.admin, actor="bootstrap")
        return project, secret

    def keys_exist(self) -> bool:
        return self.keys.count_active() > 0

    def history(
        self, project_id: str, *, object_type: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        return self.audit.list(project_id, object_type=object_type, limit=limit)


def _check_name(name: str) -> None:
    try:
        Project.model_validate(
            {"id": "prj_check", "name": name, "created_at": "2000-01-01T00:00:00Z"}
        )
    except pydantic.ValidationError:
        message = (
            f"project name {name!r} is invalid: use 1-63 lowercase letters, digits, '-', '_' "
            "or '.', starting with a letter or digit"
        )
        # the same problem shape as a request validation error, so clients find the field
        details = [{"field": "name", "message": message, "type": "invalid_name"}]
        raise ValidationError(message, details=details) from None
