"""The annotation aggregate's domain types: queues, label schemas, items and annotations.

A queue holds items; each item points at what people label (a dataset record in one
version, or a trace) and keeps a snapshot of its content so the annotator page needs no
joins. A :class:`LabelSchema` says what an answer looks like and normalises answers, so
equal answers compare equal (agreement and unanimity depend on that).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from llmloop.errors import ValidationError
from llmloop.records import Frozen

SchemaKind = Literal["classes", "text", "rating", "correction"]
ItemStatus = Literal["pending", "disputed", "resolved", "adjudicated"]
AnnotationStatus = Literal["submitted", "skipped"]
Level = Literal["nominal", "ordinal", "interval"]
FINAL_STATUSES: tuple[str, ...] = ("resolved", "adjudicated")
ITEM_STATUSES: tuple[str, ...] = ("pending", "disputed", "resolved", "adjudicated")
MAX_TEXT = 20_000

Answer = str | int | list[str]


class LabelSchema(Frozen):
    """What an answer is: one or several of ``classes``, free text, a rating or a correction.

    ``field`` is the expectations key the final label is written to on promotion
    (default ``label``; ``output`` for corrected outputs).
    """

    kind: SchemaKind = "classes"
    field: str = Field(default="", max_length=100)
    classes: list[str] = Field(default_factory=list, max_length=50)
    multi: bool = False
    scale: int = Field(default=5, ge=2, le=10, description="Ratings run 1..scale.")
    instructions: str = Field(default="", max_length=5000)

    @model_validator(mode="after")
    def _consistent(self) -> LabelSchema:
        if self.kind == "classes":
            if len(self.classes) < 2:
                raise ValueError("a 'classes' schema needs at least 2 classes")
            if len(set(self.classes)) != len(self.classes):
                raise ValueError(f"classes must be distinct, got {self.classes}")
            if any(not c.strip() or len(c) > 200 for c in self.classes):
                raise ValueError("each class must be 1-200 characters, not blank")
        elif self.classes:
            raise ValueError(f"classes are only for kind 'classes', not {self.kind!r}")
        if self.multi and self.kind != "classes":
            raise ValueError("multi applies to kind 'classes' only")
        if not self.field:
            default = "output" if self.kind == "correction" else "label"
            object.__setattr__(self, "field", default)
        return self

    @property
    def level(self) -> Level:
        """How answers compare for agreement: ratings are ordered, the rest are names."""
        return "ordinal" if self.kind == "rating" else "nominal"

    def normalize(self, value: Any) -> Answer:
        """The canonical form of an answer, or ValidationError naming what is wrong."""
        if self.kind == "classes":
            return self._classes(value)
        if self.kind == "rating":
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(f"a rating must be a whole number 1..{self.scale}")
            if not 1 <= value <= self.scale:
                raise ValidationError(f"rating {value} is outside 1..{self.scale}")
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"a {self.kind} answer must be non-empty text")
        if len(value) > MAX_TEXT:
            raise ValidationError(f"a {self.kind} answer is limited to {MAX_TEXT} characters")
        return value.strip()

    def _classes(self, value: Any) -> Answer:
        chosen = value if isinstance(value, list) else [value]
        if not chosen or not all(isinstance(c, str) for c in chosen):
            raise ValidationError(f"choose one of {self.classes}")
        unknown = [c for c in chosen if c not in self.classes]
        if unknown:
            raise ValidationError(f"unknown class {unknown[0]!r}; choose from {self.classes}")
        if not self.multi:
            if len(chosen) != 1:
                raise ValidationError("this queue takes exactly one class per item")
            return chosen[0]
        return [c for c in self.classes if c in chosen]  # schema order, no duplicates


def answer_key(value: Answer) -> str | int:
    """A hashable form of an answer (multi-class answers become ``a|b``)."""
    return "|".join(value) if isinstance(value, list) else value


class ItemRef(Frozen):
    """What an item points at: a record of a dataset version, or a trace."""

    kind: Literal["record", "trace"]
    record_id: str | None = None
    dataset_id: str | None = None
    version_id: str | None = None
    trace_id: str | None = None


class ItemContent(Frozen):
    """A snapshot of the record shown to annotators."""

    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    expectations: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Queue(Frozen):
    id: str
    project_id: str
    name: str
    description: str = ""
    label_schema: LabelSchema
    required: int = Field(ge=1, le=20, description="Annotators needed per item.")
    source: dict[str, Any] = Field(
        default_factory=dict, description="Where items came from (dataset, version, traces)."
    )
    created_by: str
    created_at: datetime


class Item(Frozen):
    id: str
    queue_id: str
    position: int
    ref: ItemRef
    content: ItemContent
    hints: dict[str, Any] = Field(
        default_factory=dict, description="Shown to annotators, e.g. given and suggested labels."
    )
    status: ItemStatus = "pending"
    final: Answer | None = None
    final_by: str | None = None
    final_at: datetime | None = None
    promoted_version: str | None = None
    created_at: datetime


class Annotation(Frozen):
    id: str
    queue_id: str
    item_id: str
    annotator: str
    status: AnnotationStatus
    value: Answer | None = None
    comment: str | None = None
    created_at: datetime
    updated_at: datetime


class Assignment(Frozen):
    queue_id: str
    item_id: str
    annotator: str
    assigned_by: str
    assigned_at: datetime


class Progress(Frozen):
    """How far a queue is: items by status, answers given, answers still needed."""

    items: int
    pending: int
    disputed: int
    resolved: int
    adjudicated: int
    promoted: int
    submitted: int
    skipped: int
    needed: int = Field(description="Answers still missing to reach `required` per item.")

    @property
    def done(self) -> int:
        return self.resolved + self.adjudicated

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.items if self.items else 0.0
