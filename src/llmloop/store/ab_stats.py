"""Read-only queries behind A/B analysis: per-arm samples of a deployment's traces.

The gateway tags every call it routes through a deployment with ``deployment:<name>``,
``env:<environment>`` and ``arm:<arm>``; scores (evaluators, end-user feedback) attach
to those traces in ``trace_scores``. These queries read the raw per-trace values the
statistics need (latency, error, cost, tokens, scores), one arm at a time, through the
``trace_tags`` primary key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import and_, select

from llmloop.store.database import Database
from llmloop.store.traces import trace_scores, trace_tags, traces

MAX_TRACES_PER_ARM = 200_000
_CHUNK = 500


@dataclass(slots=True)
class ArmSample:
    """Raw values of one arm's traces, aligned by position."""

    arm: str
    trace_ids: list[str] = field(default_factory=list)
    duration_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    error: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    cost_usd: np.ndarray = field(default_factory=lambda: np.empty(0))  # NaN when unknown
    tokens: np.ndarray = field(default_factory=lambda: np.empty(0))
    scores: dict[str, list[Any]] = field(default_factory=dict)  # name -> one value per trace

    @property
    def requests(self) -> int:
        return len(self.trace_ids)


def _arm_query(
    project_id: str,
    deployment: str,
    environment: str,
    arm: str,
    since: datetime | None,
    until: datetime | None,
) -> Any:
    dep, env, arm_tag = trace_tags.alias("d"), trace_tags.alias("e"), trace_tags.alias("a")

    def joined(tag: Any, value: str) -> Any:
        return and_(
            tag.c.project_id == project_id,
            tag.c.tag == value,
            tag.c.trace_id == traces.c.trace_id,
        )

    query = (
        select(
            traces.c.trace_id,
            traces.c.duration_ms,
            traces.c.status,
            traces.c.cost_usd,
            traces.c.input_tokens,
            traces.c.output_tokens,
        )
        .select_from(traces)
        .join(arm_tag, joined(arm_tag, f"arm:{arm}"))
        .join(dep, joined(dep, f"deployment:{deployment}"))
        .join(env, joined(env, f"env:{environment}"))
        .where(traces.c.project_id == project_id)
        .order_by(traces.c.start_time.desc())
        .limit(MAX_TRACES_PER_ARM)
    )
    if since is not None:
        query = query.where(traces.c.start_time >= since)
    if until is not None:
        query = query.where(traces.c.start_time < until)
    return query


def arm_samples(
    db: Database,
    project_id: str,
    deployment: str,
    environment: str,
    arms: Sequence[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, ArmSample]:
    """Per arm, the values of its traces (newest first, at most MAX_TRACES_PER_ARM)."""
    out: dict[str, ArmSample] = {}
    with db.connect() as c:
        for arm in arms:
            rows = c.execute(
                _arm_query(project_id, deployment, environment, arm, since, until)
            ).all()
            sample = ArmSample(arm=arm, trace_ids=[r.trace_id for r in rows])
            sample.duration_ms = np.array([r.duration_ms for r in rows], dtype=float)
            sample.error = np.array([r.status == "error" for r in rows], dtype=bool)
            sample.cost_usd = np.array(
                [np.nan if r.cost_usd is None else r.cost_usd for r in rows], dtype=float
            )
            sample.tokens = np.array([r.input_tokens + r.output_tokens for r in rows], dtype=float)
            sample.scores = _scores(c, project_id, sample.trace_ids)
            out[arm] = sample
    return out


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _scores(c: Any, project_id: str, trace_ids: Sequence[str]) -> dict[str, list[Any]]:
    """The latest value of each score name per trace, as lists per name."""
    latest: dict[tuple[str, str], tuple[datetime, Any]] = {}
    for chunk in _chunks(trace_ids):
        query = select(
            trace_scores.c.trace_id,
            trace_scores.c.name,
            trace_scores.c.value,
            trace_scores.c.created_at,
        ).where(trace_scores.c.project_id == project_id, trace_scores.c.trace_id.in_(chunk))
        for r in c.execute(query):
            key = (r.trace_id, r.name)
            if key not in latest or r.created_at >= latest[key][0]:
                latest[key] = (r.created_at, r.value)
    by_name: dict[str, list[Any]] = {}
    for (_, name), (_, value) in sorted(latest.items()):
        by_name.setdefault(name, []).append(value)
    return by_name
