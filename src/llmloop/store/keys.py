"""API keys: hashed secrets scoped to one project with a role."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Boolean, Column, ForeignKey, Index, String, Table, func, select, update
from sqlalchemy.engine import Connection, RowMapping

from llmloop.errors import NotFoundError
from llmloop.records import ApiKey, Role, new_id, utcnow
from llmloop.store.database import Database
from llmloop.store.schema import UtcDateTime, metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("public", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("ix_api_keys_project", "project_id"),
)

SECRET_PREFIX = "llk_"
PUBLIC_PREFIX = "llpk_"


def digest(secret: str) -> str:
    """SHA-256 of the secret. Keys are 256-bit random, so a fast hash is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _to_key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        role=Role(row["role"]),
        prefix=row["prefix"],
        public=row["public"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


class ApiKeyRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        project_id: str,
        name: str,
        role: Role,
        *,
        public: bool = False,
        conn: Connection | None = None,
    ) -> tuple[ApiKey, str]:
        """Store a new key; return it with its secret, which is shown only this once."""
        secret = (PUBLIC_PREFIX if public else SECRET_PREFIX) + secrets.token_urlsafe(32)
        key = ApiKey(
            id=new_id("key"),
            project_id=project_id,
            name=name,
            role=Role.viewer if public else role,
            prefix=secret[:12],
            public=public,
            created_at=utcnow(),
        )
        with self.db.begin(conn) as c:
            c.execute(api_keys.insert().values(**key.model_dump(), digest=digest(secret)))
        return key, secret

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None."""
        with self.db.connect() as c:
            row = (
                c.execute(select(api_keys).where(api_keys.c.digest == digest(secret)))
                .mappings()
                .first()
            )
        if row is None or row["revoked_at"] is not None:
            return None
        return _to_key(row)

    def touch(self, key_id: str) -> None:
        with self.db.begin() as c:
            c.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=utcnow()))

    def get(self, project_id: str, key_id: str) -> ApiKey:
        with self.db.connect() as c:
            return _get(c, project_id, key_id)

    def list(self, project_id: str, *, include_revoked: bool = False) -> list[ApiKey]:
        query = select(api_keys).where(api_keys.c.project_id == project_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.db.connect() as c:
            return [_to_key(r) for r in c.execute(query.order_by(api_keys.c.created_at)).mappings()]

    def revoke(self, project_id: str, key_id: str, *, conn: Connection | None = None) -> ApiKey:
        # read and write on the same connection: a caller's transaction is not committed
        # yet, so another connection would still see the key as active
        with self.db.begin(conn) as c:
            _get(c, project_id, key_id)
            c.execute(  # revoking twice keeps the first revocation time
                update(api_keys)
                .where(
                    api_keys.c.id == key_id,
                    api_keys.c.project_id == project_id,
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow())
            )
            return _get(c, project_id, key_id)

    def count_active(self) -> int:
        """Active keys across all projects."""
        query = select(func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
        with self.db.connect() as c:
            return int(c.execute(query).scalar_one())


def _get(c: Connection, project_id: str, key_id: str) -> ApiKey:
    query = select(api_keys).where(api_keys.c.id == key_id, api_keys.c.project_id == project_id)
    row = c.execute(query).mappings().first()
    if row is None:
        raise NotFoundError(f"API key {key_id!r} not found in this project")
    return _to_key(row)
