"""Prompts: named templates with immutable, content-hashed versions and movable labels.

A version holds a chat-message list or a text template, its declared variables, model
parameters, tools and a response schema. Its ``content_hash`` covers all of those, so
the same content committed twice is the same version. Labels (``production``,
``staging``, ``latest``, custom) are pointers to versions.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import (
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
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

prompts = Table(
    "prompts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("project_id", "name"),
)

prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("prompt_id", String(64), ForeignKey("prompts.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("template", JsonType, nullable=False),
    Column("variables", JsonType, nullable=False),
    Column("params", JsonType, nullable=False),
    Column("tools", JsonType, nullable=True),
    Column("response_schema", JsonType, nullable=True),
    Column("message", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("prompt_id", "number"),
    UniqueConstraint("prompt_id", "content_hash"),
)

prompt_labels = Table(
    "prompt_labels",
    metadata,
    Column("prompt_id", String(64), ForeignKey("prompts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("version_id", String(64), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("prompt_id", "name"),
    ForeignKeyConstraint(
        ["version_id"], ["prompt_versions.id"], name="fk_prompt_labels_version_id"
    ),
    Index("ix_prompt_labels_version", "version_id"),
)


# --------------------------------------------------------------------------- domain types

VariableType = Literal["string", "integer", "number", "boolean", "list", "object"]
PromptKind = Literal["chat", "text"]


class Variable(Frozen):
    """A declared template variable: its type, and whether the caller must give it."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    type: VariableType = "string"
    required: bool = True
    default: Any = None
    description: str = ""


class ChatTemplate(Frozen):
    """One chat message whose ``content`` is a template."""

    role: Literal["system", "user", "assistant", "developer"]
    content: str
    name: str | None = None


class PromptContent(Frozen):
    """What a version is made of; its hash is the version's identity within a prompt."""

    kind: PromptKind
    messages: list[ChatTemplate] = Field(default_factory=list)
    text: str | None = None
    variables: list[Variable] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None
    response_schema: dict[str, Any] | None = None

    def digest(self) -> str:
        canonical = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class Prompt(Frozen):
    id: str
    project_id: str
    name: str
    description: str = ""
    created_at: datetime


class PromptVersion(PromptContent):
    """An immutable version of a prompt."""

    id: str
    prompt_id: str
    prompt_name: str
    number: int
    content_hash: str
    message: str = ""
    created_by: str
    created_at: datetime

    @property
    def label(self) -> str:
        return f"v{self.number}"

    def content(self) -> PromptContent:
        return PromptContent(**{k: getattr(self, k) for k in PromptContent.model_fields})


class PromptLabel(Frozen):
    name: str
    version_id: str
    updated_by: str
    updated_at: datetime


# --------------------------------------------------------------------------- conversion


def _to_prompt(row: RowMapping) -> Prompt:
    return Prompt(**{k: row[k] for k in Prompt.model_fields})


def _to_version(row: RowMapping, prompt_name: str) -> PromptVersion:
    template = row["template"]
    return PromptVersion(
        id=row["id"],
        prompt_id=row["prompt_id"],
        prompt_name=prompt_name,
        number=row["number"],
        content_hash=row["content_hash"],
        kind=row["kind"],
        messages=template.get("messages", []),
        text=template.get("text"),
        variables=row["variables"],
        params=row["params"],
        tools=row["tools"],
        response_schema=row["response_schema"],
        message=row["message"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def _to_label(row: RowMapping) -> PromptLabel:
    return PromptLabel(**{k: row[k] for k in PromptLabel.model_fields})


# --------------------------------------------------------------------------- repository


class PromptRepository:
    """Rows of prompts, versions and labels. Rules live in :mod:`llmloop.prompts`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, project_id: str, name: str, description: str = "", *, conn: Connection | None = None
    ) -> Prompt:
        prompt = Prompt(
            id=new_id("pmt"),
            project_id=project_id,
            name=name,
            description=description,
            created_at=utcnow(),
        )
        try:
            with self.db.begin(conn) as c:
                if self.find(project_id, name, conn=c) is not None:
                    raise ConflictError(f"prompt {name!r} already exists in this project")
                c.execute(prompts.insert().values(**prompt.model_dump()))
        except IntegrityError:
            if conn is not None:  # the caller's transaction decides (it may retry)
                raise
            raise ConflictError(f"prompt {name!r} already exists in this project") from None
        return prompt

    def find(self, project_id: str, name: str, *, conn: Connection | None = None) -> Prompt | None:
        query = select(prompts).where(prompts.c.project_id == project_id, prompts.c.name == name)
        if conn is not None:
            row = conn.execute(query).mappings().first()
        else:
            with self.db.connect() as c:
                row = c.execute(query).mappings().first()
        return None if row is None else _to_prompt(row)

    def get(self, project_id: str, name: str, *, conn: Connection | None = None) -> Prompt:
        found = self.find(project_id, name, conn=conn)
        if found is None:
            raise NotFoundError(f"prompt {name!r} not found in this project")
        return found

    def list(self, project_id: str) -> list[Prompt]:
        query = select(prompts).where(prompts.c.project_id == project_id).order_by(prompts.c.name)
        with self.db.connect() as c:
            return [_to_prompt(r) for r in c.execute(query).mappings()]

    # ---------------------------------------------------------------- versions

    def add_version(
        self,
        prompt: Prompt,
        content: PromptContent,
        *,
        message: str,
        actor: str,
        conn: Connection,
    ) -> tuple[PromptVersion, bool]:
        """Insert ``content`` as the next version, or return the identical one (False)."""
        # serialise versions per prompt (PostgreSQL; SQLite writes are serial already)
        conn.execute(select(prompts.c.id).where(prompts.c.id == prompt.id).with_for_update())
        digest = content.digest()
        existing = (
            conn.execute(
                select(prompt_versions).where(
                    prompt_versions.c.prompt_id == prompt.id,
                    prompt_versions.c.content_hash == digest,
                )
            )
            .mappings()
            .first()
        )
        if existing is not None:
            return _to_version(existing, prompt.name), False
        number = conn.execute(
            select(func.coalesce(func.max(prompt_versions.c.number), 0)).where(
                prompt_versions.c.prompt_id == prompt.id
            )
        ).scalar_one()
        dumped = content.model_dump(mode="json")
        template = {"messages": dumped["messages"], "text": dumped["text"]}
        row = {
            "id": new_id("pv"),
            "prompt_id": prompt.id,
            "number": int(number) + 1,
            "content_hash": digest,
            "kind": content.kind,
            "template": template,
            "variables": dumped["variables"],
            "params": dumped["params"],
            "tools": dumped["tools"],
            "response_schema": dumped["response_schema"],
            "message": message,
            "created_by": actor,
            "created_at": utcnow(),
        }
        conn.execute(prompt_versions.insert().values(**row))
        return _to_version(row, prompt.name), True  # type: ignore[arg-type]

    def versions(self, prompt: Prompt) -> builtins.list[PromptVersion]:
        query = (
            select(prompt_versions)
            .where(prompt_versions.c.prompt_id == prompt.id)
            .order_by(prompt_versions.c.number.desc())
        )
        with self.db.connect() as c:
            return [_to_version(r, prompt.name) for r in c.execute(query).mappings()]

    def count_versions(self, prompt_id: str) -> int:
        query = select(func.count()).where(prompt_versions.c.prompt_id == prompt_id)
        with self.db.connect() as c:
            return int(c.execute(query).scalar_one())

    def version_by_number(self, prompt: Prompt, number: int) -> PromptVersion | None:
        return self._one(
            prompt,
            prompt_versions.c.prompt_id == prompt.id,
            prompt_versions.c.number == number,
        )

    def version_by_id(self, prompt: Prompt, version_id: str) -> PromptVersion | None:
        return self._one(
            prompt,
            prompt_versions.c.prompt_id == prompt.id,
            prompt_versions.c.id == version_id,
        )

    def _one(self, prompt: Prompt, *where: Any) -> PromptVersion | None:
        with self.db.connect() as c:
            row = c.execute(select(prompt_versions).where(*where)).mappings().first()
        return None if row is None else _to_version(row, prompt.name)

    def version_in_project(self, project_id: str, version_id: str) -> PromptVersion | None:
        """A version by id, if it belongs to a prompt of ``project_id``."""
        query = (
            select(prompt_versions, prompts.c.name.label("prompt_name"))
            .join(prompts, prompts.c.id == prompt_versions.c.prompt_id)
            .where(prompts.c.project_id == project_id, prompt_versions.c.id == version_id)
        )
        with self.db.connect() as c:
            row = c.execute(query).mappings().first()
        return None if row is None else _to_version(row, row["prompt_name"])

    # ---------------------------------------------------------------- labels

    def labels(self, prompt_id: str) -> builtins.list[PromptLabel]:
        query = (
            select(prompt_labels)
            .where(prompt_labels.c.prompt_id == prompt_id)
            .order_by(prompt_labels.c.name)
        )
        with self.db.connect() as c:
            return [_to_label(r) for r in c.execute(query).mappings()]

    def label(self, prompt_id: str, name: str) -> PromptLabel | None:
        query = select(prompt_labels).where(
            prompt_labels.c.prompt_id == prompt_id, prompt_labels.c.name == name
        )
        with self.db.connect() as c:
            row = c.execute(query).mappings().first()
        return None if row is None else _to_label(row)

    def set_label(
        self, prompt_id: str, name: str, version_id: str, *, actor: str, conn: Connection
    ) -> tuple[PromptLabel, str | None]:
        """Point ``name`` at ``version_id``; return the label and the version it left."""
        where = (prompt_labels.c.prompt_id == prompt_id, prompt_labels.c.name == name)
        before = conn.execute(select(prompt_labels.c.version_id).where(*where)).scalar()
        values = {"version_id": version_id, "updated_by": actor, "updated_at": utcnow()}
        if before is None:
            conn.execute(prompt_labels.insert().values(prompt_id=prompt_id, name=name, **values))
        else:
            conn.execute(prompt_labels.update().where(*where).values(**values))
        return PromptLabel(name=name, **values), before
