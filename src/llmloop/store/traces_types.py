"""The trace aggregate's domain types: spans as stored, trace summaries, filters, trees.

Plain pydantic models with no database or HTTP in them. The OTLP receiver and the
local exporter build :class:`Span` values; the repository stores them and answers
:class:`Trace` summaries and :class:`SpanNode` trees.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmloop.records import Score

SpanStatus = Literal["unset", "ok", "error"]
SpanKind = Literal[
    "span", "llm", "chain", "tool", "retriever", "embedding", "agent", "reranker", "guardrail"
]
SPAN_KINDS: tuple[str, ...] = SpanKind.__args__  # type: ignore[attr-defined]

FLAG_END_BEFORE_START = "end_before_start"


class Span(BaseModel):
    """One operation of a trace, in the one schema every convention is mapped onto."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trace_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    span_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    parent_span_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    name: str
    kind: SpanKind = "span"
    start_time: datetime
    end_time: datetime
    duration_ms: float = Field(ge=0, description="0 when the end is before the start.")
    status: SpanStatus = "unset"
    status_message: str | None = None
    service: str | None = None
    model: str | None = Field(default=None, description="Model as reported, e.g. gpt-4o-mini.")
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    inputs: Any = None
    outputs: Any = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list, description="e.g. end_before_start")

    @property
    def is_root(self) -> bool:
        return self.parent_span_id is None


SPAN_FIELDS: frozenset[str] = frozenset(Span.model_fields)


def trusted_span(values: dict[str, Any]) -> Span:
    """A :class:`Span` from ``values`` that are already valid and name every field.

    The OTLP decoder's fast path: it builds each field itself (ids checked, times
    computed, kind mapped), so pydantic's validation, and even ``model_construct``'s
    default handling, would only repeat work on the hottest path of ingestion.
    """
    span = Span.__new__(Span)
    object.__setattr__(span, "__dict__", values)
    object.__setattr__(span, "__pydantic_fields_set__", SPAN_FIELDS)
    object.__setattr__(span, "__pydantic_extra__", None)
    object.__setattr__(span, "__pydantic_private__", None)
    return span


class Trace(BaseModel):
    """A trace summary: what the list view shows and filters on."""

    model_config = ConfigDict(frozen=True)

    trace_id: str
    name: str
    start_time: datetime
    end_time: datetime
    duration_ms: float
    status: SpanStatus
    service: str | None = None
    model: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    span_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class SpanNode(BaseModel):
    """A span with its children, ordered by start time."""

    span: Span
    children: list[SpanNode] = Field(default_factory=list)


class TraceDetail(BaseModel):
    trace: Trace
    spans: list[SpanNode] = Field(description="Root spans (and orphans) with their subtrees.")
    scores: list[Score] = Field(default_factory=list)


class TraceFilter(BaseModel):
    """Filters for listing traces; every field is optional and they combine with AND."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    since: datetime | None = Field(default=None, description="Traces starting at or after.")
    until: datetime | None = Field(default=None, description="Traces starting before.")
    name: str | None = None
    model: str | None = None
    status: SpanStatus | None = None
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] = Field(default_factory=list, description="Traces having all these tags.")
    min_cost_usd: float | None = Field(default=None, ge=0)
    max_cost_usd: float | None = Field(default=None, ge=0)
    min_duration_ms: float | None = Field(default=None, ge=0)
    max_duration_ms: float | None = Field(default=None, ge=0)
    text: str | None = Field(
        default=None, min_length=1, max_length=500, description="Substring of any input/output."
    )
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class PruneResult(BaseModel):
    """What a retention run deleted: rows per table and the transactions it took."""

    traces: int = 0
    spans: int = 0
    tags: int = 0
    scores: int = 0
    batches: int = 0
