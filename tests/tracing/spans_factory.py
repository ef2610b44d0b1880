"""Small span builders for the tracing tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from llmloop.store.traces_types import Span

BASE = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def new_trace_id() -> str:
    return os.urandom(16).hex()


def new_span_id() -> str:
    return os.urandom(8).hex()


def make_span(trace_id: str, **fields: Any) -> Span:
    start = fields.pop("start_time", BASE)
    duration = fields.pop("duration_ms", 100.0)
    values: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": new_span_id(),
        "name": "step",
        "start_time": start,
        "end_time": start + timedelta(milliseconds=duration),
        "duration_ms": duration,
        "status": "ok",
    }
    values.update(fields)
    return Span(**values)
