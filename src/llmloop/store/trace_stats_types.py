"""Aggregates of traces over time buckets: the query and its typed result.

Plain pydantic models with no database or HTTP in them; the trace repository answers
:class:`TraceStatsQuery` with a list of :class:`TraceStatsRow`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmloop.store.traces_types import SpanStatus

Bucket = Literal["minute", "hour", "day"]
GroupBy = Literal["model", "name", "tag"]
BUCKET_WIDTH: dict[str, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
MAX_BUCKETS = 10_000


class TraceStatsQuery(BaseModel):
    """Which traces to aggregate, into which time buckets, split by which field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: Bucket = "hour"
    group_by: GroupBy | None = Field(
        default=None, description="Split each bucket by model, trace name or tag."
    )
    since: datetime | None = Field(default=None, description="Traces starting at or after.")
    until: datetime | None = Field(default=None, description="Traces starting before.")
    name: str | None = None
    model: str | None = None
    status: SpanStatus | None = None
    tags: list[str] = Field(default_factory=list, description="Traces having all these tags.")
    text: str | None = Field(default=None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _range(self) -> TraceStatsQuery:
        for side in (self.since, self.until):
            if side is not None and side.tzinfo is None:
                raise ValueError(f"naive datetime {side.isoformat()}: add a timezone, e.g. Z")
        if self.since and self.until:
            if self.until <= self.since:
                raise ValueError("until must be after since")
            buckets = (self.until - self.since) / BUCKET_WIDTH[self.bucket]
            if buckets > MAX_BUCKETS:
                raise ValueError(
                    f"{buckets:.0f} {self.bucket} buckets requested, at most {MAX_BUCKETS}: "
                    "use a wider bucket or a shorter range"
                )
        return self


class TraceStatsRow(BaseModel):
    """One time bucket (and group): traces started in ``[bucket_start, +width)``."""

    model_config = ConfigDict(frozen=True)

    bucket_start: datetime
    group: str | None = Field(default=None, description="Model, name or tag; None if absent.")
    count: int
    error_count: int
    error_rate: float
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float | None = None
    p50_latency_ms: float
    p95_latency_ms: float
