"""Core domain types shared by every feature.

These are plain, frozen pydantic models: no database, no HTTP. Repositories convert
between them and table rows explicitly; the server and SDK serialize them as JSON.
"""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A sortable-enough, globally unique id with a readable prefix (``rec_…``)."""
    return f"{prefix}_{uuid.uuid4().hex}"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- tenancy


class Role(enum.StrEnum):
    """What an API key may do inside its project. Each role includes the ones below it."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"

    @property
    def rank(self) -> int:
        return {"viewer": 0, "editor": 1, "admin": 2}[self.value]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class Project(Frozen):
    id: str
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    description: str = ""
    created_at: datetime


class ApiKey(Frozen):
    """A stored key. The secret itself is never stored, only its SHA-256 digest."""

    id: str
    project_id: str
    name: str
    role: Role
    prefix: str = Field(description="First characters of the secret, to recognise it.")
    public: bool = Field(default=False, description="Ingestion-only key usable from browsers.")
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class AuditEvent(Frozen):
    """Who did what to which object, when and why."""

    id: str
    project_id: str
    actor: str
    action: str
    object_type: str
    object_id: str
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


# --------------------------------------------------------------------------- records


RecordSourceKind = Literal["dataset", "trace", "generated", "import"]


class RecordSource(Frozen):
    kind: RecordSourceKind
    ref: str | None = Field(default=None, description="Dataset version id, trace id, …")


class Record(Frozen):
    """One example: what went in, what came out, what should have, and slice tags.

    A dataset example, a live trace and an annotation item are all records, so one
    scorer works on any of them.
    """

    id: str = Field(default_factory=lambda: new_id("rec"))
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None = None
    expectations: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    source: RecordSource = RecordSource(kind="generated")
    created_at: datetime = Field(default_factory=utcnow)

    def content_hash(self) -> str:
        """Digest of the content (not the id or timestamps): equal content, equal hash."""
        payload = json.dumps(
            [self.inputs, self.outputs, self.expectations, self.metadata],
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def slice(self, key: str) -> Any:
        return self.metadata.get(key)


# --------------------------------------------------------------------------- scores


ScoreValue = float | int | bool | str


class ScoreSourceKind(enum.StrEnum):
    metric = "metric"
    judge = "judge"
    human = "human"
    user = "user"
    labeling_function = "lf"
    model = "model"
    label_model = "label_model"


class ScoreSource(Frozen):
    """Where a score came from: ``metric``, ``judge:<model>``, ``human:<who>``, ``user`` …"""

    kind: ScoreSourceKind
    name: str | None = None

    @classmethod
    def parse(cls, text: str) -> ScoreSource:
        kind, _, name = text.partition(":")
        try:
            return cls(kind=ScoreSourceKind(kind), name=name or None)
        except ValueError:
            known = ", ".join(k.value for k in ScoreSourceKind)
            raise ValueError(f"unknown score source {text!r}; expected one of {known}") from None

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}" if self.name else self.kind.value


class Score(Frozen):
    """A judgement attached to a record, trace or span, from any source."""

    id: str = Field(default_factory=lambda: new_id("scr"))
    target_kind: Literal["record", "trace", "span"] = "record"
    target_id: str
    name: str = Field(min_length=1, max_length=200)
    value: ScoreValue
    rationale: str | None = None
    source: ScoreSource
    scorer_version: str | None = None
    cost_usd: float = Field(default=0.0, ge=0)
    created_at: datetime = Field(default_factory=utcnow)

    @field_validator("source", mode="before")
    @classmethod
    def _parse_source(cls, value: Any) -> Any:
        return ScoreSource.parse(value) if isinstance(value, str) else value

    @property
    def numeric(self) -> float | None:
        """The value as a number where that makes sense (bools count as 0/1)."""
        if isinstance(self.value, bool):
            return float(self.value)
        if isinstance(self.value, int | float):
            return float(self.value)
        return None


class Label(Score):
    """A score meant as ground truth for a field; possibly probabilistic.

    ``value`` is the chosen class; ``distribution`` gives class probabilities when the
    source is probabilistic (a labeling function's vote has none; a label model has one).
    A golden label is a human label that was adjudicated, with who and when.
    """

    field: str = Field(min_length=1)
    distribution: dict[str, float] | None = None
    adjudicated_by: str | None = None
    adjudicated_at: datetime | None = None

    @property
    def golden(self) -> bool:
        return self.source.kind is ScoreSourceKind.human and self.adjudicated_by is not None


__all__ = [
    "ApiKey",
    "AuditEvent",
    "Frozen",
    "Label",
    "Project",
    "Record",
    "RecordSource",
    "Role",
    "Score",
    "ScoreSource",
    "ScoreSourceKind",
    "ScoreValue",
    "new_id",
    "utcnow",
]
