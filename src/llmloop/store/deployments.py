"""Deployments: a named use case per environment, immutable versions, pointers, routing.

A deployment version binds one prompt version, a model reference, parameters, guardrail
settings and fallbacks, and never changes. What moves is kept on the deployment row and
its aliases: which version is ``stable`` (the control), the routing policy (a weighted
split between versions, sticky assignment, a shadow version) and the automatic
promotion/rollback policy. Every move is audited by :mod:`llmloop.deployments`.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from llmloop.errors import ConflictError, NotFoundError
from llmloop.records import Frozen, new_id, utcnow
from llmloop.store.database import Database
from llmloop.store.schema import JsonType, UtcDateTime, metadata

deployments = Table(
    "deployments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("routing", JsonType, nullable=False),
    Column("policy", JsonType, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("project_id", "name", "environment"),
)

deployment_versions = Table(
    "deployment_versions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "deployment_id",
        String(64),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("number", Integer, nullable=False),
    Column("prompt_version_id", String(64), ForeignKey("prompt_versions.id"), nullable=True),
    Column("model", String(300), nullable=False),
    Column("params", JsonType, nullable=False),
    Column("guardrails", JsonType, nullable=False),
    Column("fallbacks", JsonType, nullable=False),
    Column("fallback_on_refusal", Boolean, nullable=False),
    Column("message", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("deployment_id", "number"),
)

deployment_aliases = Table(
    "deployment_aliases",
    metadata,
    Column(
        "deployment_id",
        String(64),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(64), nullable=False),
    Column("version_id", String(64), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("deployment_id", "name"),
    ForeignKeyConstraint(
        ["version_id"], ["deployment_versions.id"], name="fk_deployment_aliases_version_id"
    ),
)


# --------------------------------------------------------------------------- domain types


class SplitArm(Frozen):
    version_id: str
    weight: float = Field(gt=0, le=1_000_000)


class RoutingPolicy(Frozen):
    """How traffic is spread: an empty split sends everything to the ``stable`` version."""

    split: list[SplitArm] = Field(default_factory=list)
    sticky_by: Literal["user", "session"] | None = None
    shadow_version_id: str | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None
    reason: str | None = None


class PolicyConfig(Frozen):
    """Automatic moves driven by A/B statistics of the arms against the control."""

    auto_rollback: bool = False
    auto_promote: bool = False
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    min_samples: int = Field(default=100, ge=2, description="Per arm, before any move.")
    metrics: list[str] = Field(
        default_factory=lambda: ["error_rate"],
        description="'error_rate', 'latency', 'cost' or a score name (e.g. 'feedback').",
    )


class Deployment(Frozen):
    id: str
    project_id: str
    name: str
    environment: str
    description: str = ""
    routing: RoutingPolicy = Field(default_factory=RoutingPolicy)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    created_at: datetime
    updated_at: datetime


class DeploymentVersion(Frozen):
    id: str
    deployment_id: str
    number: int
    prompt_version_id: str | None = None
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    guardrails: dict[str, Any] = Field(default_factory=dict)
    fallbacks: list[str] = Field(default_factory=list)
    fallback_on_refusal: bool = False
    message: str = ""
    created_by: str
    created_at: datetime

    @property
    def label(self) -> str:
        return f"v{self.number}"


class DeploymentAlias(Frozen):
    name: str
    version_id: str
    updated_by: str
    updated_at: datetime


def _to_deployment(row: RowMapping) -> Deployment:
    values = {k: row[k] for k in Deployment.model_fields}
    return Deployment.model_validate(values)


def _to_version(row: RowMapping) -> DeploymentVersion:
    return DeploymentVersion(**{k: row[k] for k in DeploymentVersion.model_fields})


def _to_alias(row: RowMapping) -> DeploymentAlias:
    return DeploymentAlias(**{k: row[k] for k in DeploymentAlias.model_fields})


# --------------------------------------------------------------------------- repository


class DeploymentRepository:
    """Rows of deployments, versions and aliases. Rules live in :mod:`llmloop.deployments`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        project_id: str,
        name: str,
        environment: str,
        description: str = "",
        *,
        conn: Connection | None = None,
    ) -> Deployment:
        now = utcnow()
        deployment = Deployment(
            id=new_id("dep"),
            project_id=project_id,
            name=name,
            environment=environment,
            description=description,
            created_at=now,
            updated_at=now,
        )
        conflict = f"deployment {name!r} already exists in environment {environment!r}"
        try:
            with self.db.begin(conn) as c:
                if self.find(project_id, name, environment, conn=c) is not None:
                    raise ConflictError(conflict)
                c.execute(
                    deployments.insert().values(
                        **deployment.model_dump(mode="json")
                        | {"created_at": now, "updated_at": now}
                    )
                )
        except IntegrityError:
            if conn is not None:  # the caller's transaction decides (it may retry)
                raise
            raise ConflictError(conflict) from None
        return deployment

    def find(
        self, project_id: str, name: str, environment: str, *, conn: Connection | None = None
    ) -> Deployment | None:
        query = select(deployments).where(
            deployments.c.project_id == project_id,
            deployments.c.name == name,
            deployments.c.environment == environment,
        )
        if conn is not None:
            row = conn.execute(query).mappings().first()
        else:
            with self.db.connect() as c:
                row = c.execute(query).mappings().first()
        return None if row is None else _to_deployment(row)

    def get(
        self, project_id: str, name: str, environment: str, *, conn: Connection | None = None
    ) -> Deployment:
        found = self.find(project_id, name, environment, conn=conn)
        if found is None:
            raise NotFoundError(
                f"deployment {name!r} not found in environment {environment!r} of this project"
            )
        return found

    def list(self, project_id: str | None, environment: str | None = None) -> list[Deployment]:
        query = select(deployments).order_by(deployments.c.name, deployments.c.environment)
        if project_id is not None:
            query = query.where(deployments.c.project_id == project_id)
        if environment:
            query = query.where(deployments.c.environment == environment)
        with self.db.connect() as c:
            return [_to_deployment(r) for r in c.execute(query).mappings()]

    def update(self, deployment_id: str, *, conn: Connection, **values: Any) -> None:
        """Set ``routing`` and/or ``policy`` (JSON-ready dicts) on a deployment."""
        values["updated_at"] = utcnow()
        conn.execute(deployments.update().where(deployments.c.id == deployment_id).values(**values))

    # ---------------------------------------------------------------- versions

    def add_version(
        self, deployment_id: str, values: dict[str, Any], *, actor: str, conn: Connection
    ) -> DeploymentVersion:
        # serialise numbering per deployment (PostgreSQL; SQLite writes are serial already)
        conn.execute(
            select(deployments.c.id).where(deployments.c.id == deployment_id).with_for_update()
        )
        number = conn.execute(
            select(func.coalesce(func.max(deployment_versions.c.number), 0)).where(
                deployment_versions.c.deployment_id == deployment_id
            )
        ).scalar_one()
        row = {
            **values,
            "id": new_id("dpv"),
            "deployment_id": deployment_id,
            "number": int(number) + 1,
            "created_by": actor,
            "created_at": utcnow(),
        }
        conn.execute(deployment_versions.insert().values(**row))
        return DeploymentVersion(**row)

    def versions(self, deployment_id: str) -> builtins.list[DeploymentVersion]:
        query = (
            select(deployment_versions)
            .where(deployment_versions.c.deployment_id == deployment_id)
            .order_by(deployment_versions.c.number.desc())
        )
        with self.db.connect() as c:
            return [_to_version(r) for r in c.execute(query).mappings()]

    def version(
        self, deployment_id: str, *, number: int | None = None, version_id: str | None = None
    ) -> DeploymentVersion | None:
        query = select(deployment_versions).where(
            deployment_versions.c.deployment_id == deployment_id
        )
        if number is not None:
            query = query.where(deployment_versions.c.number == number)
        if version_id is not None:
            query = query.where(deployment_versions.c.id == version_id)
        with self.db.connect() as c:
            row = c.execute(query).mappings().first()
        return None if row is None else _to_version(row)

    # ---------------------------------------------------------------- aliases

    def aliases(self, deployment_id: str) -> builtins.list[DeploymentAlias]:
        query = (
            select(deployment_aliases)
            .where(deployment_aliases.c.deployment_id == deployment_id)
            .order_by(deployment_aliases.c.name)
        )
        with self.db.connect() as c:
            return [_to_alias(r) for r in c.execute(query).mappings()]

    def set_alias(
        self, deployment_id: str, name: str, version_id: str, *, actor: str, conn: Connection
    ) -> tuple[DeploymentAlias, str | None]:
        """Point ``name`` at ``version_id``; return the alias and the version it left."""
        where = (
            deployment_aliases.c.deployment_id == deployment_id,
            deployment_aliases.c.name == name,
        )
        before = conn.execute(select(deployment_aliases.c.version_id).where(*where)).scalar()
        values = {"version_id": version_id, "updated_by": actor, "updated_at": utcnow()}
        if before is None:
            conn.execute(
                deployment_aliases.insert().values(deployment_id=deployment_id, name=name, **values)
            )
        else:
            conn.execute(deployment_aliases.update().where(*where).values(**values))
        return DeploymentAlias(name=name, **values), before
