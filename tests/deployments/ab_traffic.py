"""Traces as the gateway records them for a deployment's arms, written in bulk."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from llmloop.records import new_id
from llmloop.store import Database
from llmloop.store.traces import TraceRepository, trace_scores
from llmloop.store.traces_types import Span


def record_arm(
    db: Database,
    project_id: str,
    deployment: str,
    arm: str,
    *,
    n: int,
    errors: int = 0,
    latency_ms: Sequence[float] | float = 100.0,
    cost_usd: float | None = 0.001,
    feedback: Sequence[bool] | None = None,
    rating: Sequence[float] | None = None,
    environment: str = "production",
    start: datetime | None = None,
) -> list[str]:
    """Write ``n`` one-span traces tagged for ``arm``; the first ``errors`` failed."""
    start = start or datetime.now(UTC)
    latencies = np.broadcast_to(np.asarray(latency_ms, dtype=float), (n,))
    spans: list[Span] = []
    for i in range(n):
        begin = start + timedelta(milliseconds=i)
        duration = float(latencies[i])
        spans.append(
            Span(
                trace_id=os.urandom(16).hex(),
                span_id=os.urandom(8).hex(),
                name="chat deployment",
                kind="llm",
                start_time=begin,
                end_time=begin + timedelta(milliseconds=duration),
                duration_ms=duration,
                status="error" if i < errors else "ok",
                model="scripted/m",
                input_tokens=10,
                output_tokens=5,
                cost_usd=cost_usd,
                user_id=f"user-{i}",
                tags=[f"deployment:{deployment}", f"arm:{arm}", f"env:{environment}"],
            )
        )
    TraceRepository(db).insert(project_id, spans)
    ids = [s.trace_id for s in spans]
    rows: list[dict[str, Any]] = []
    for name, values in (("feedback", feedback), ("rating", rating)):
        for trace_id, value in zip(ids, values or (), strict=False):
            rows.append(
                {
                    "id": new_id("scr"),
                    "project_id": project_id,
                    "trace_id": trace_id,
                    "target_kind": "trace",
                    "target_id": trace_id,
                    "name": name,
                    "value": bool(value) if name == "feedback" else float(value),
                    "rationale": None,
                    "source": "user",
                    "scorer_version": None,
                    "cost_usd": 0.0,
                    "created_at": datetime.now(UTC),
                }
            )
    if rows:
        with db.begin() as conn:
            conn.execute(trace_scores.insert(), rows)
    return ids
