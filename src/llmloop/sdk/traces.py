"""SDK operations on traces: list with filters (typed, or as pandas), one trace, scores."""

from __future__ import annotations

from typing import Any

import pandas as pd

from llmloop.records import Score, ScoreValue
from llmloop.sdk.base import AsyncApi, Call, SyncApi, as_type, to_frame
from llmloop.store.traces_types import Trace, TraceDetail, TraceFilter


def _base(project: str) -> str:
    return f"/api/v1/projects/{project}/traces"


def list_traces(project: str, filters: dict[str, Any]) -> Call[list[Trace]]:
    where = TraceFilter.model_validate(filters)  # a bad filter fails here, before any request
    params = where.model_dump(mode="json", exclude_defaults=True)
    return Call("GET", _base(project), as_type(list[Trace]), params=params)


def get_trace(project: str, trace_id: str) -> Call[TraceDetail]:
    return Call("GET", f"{_base(project)}/{trace_id}", as_type(TraceDetail))


def add_score(project: str, trace_id: str, body: dict[str, Any]) -> Call[Score]:
    body = {k: v for k, v in body.items() if v is not None}
    return Call("POST", f"{_base(project)}/{trace_id}/scores", as_type(Score), json=body)


def _score_body(
    name: str, value: ScoreValue, source: str, span_id: str | None, rationale: str | None
) -> dict[str, Any]:
    return {"name": name, "value": value, "source": source, "span_id": span_id,
            "rationale": rationale}  # fmt: skip


class TracesApi(SyncApi):
    def list(self, **filters: Any) -> list[Trace]:
        """Traces, newest first; filters as in :class:`TraceFilter` (model=, tags=[…], …)."""
        return self._run(list_traces(self._project, filters))

    def to_pandas(self, **filters: Any) -> pd.DataFrame:
        return to_frame(self.list(**filters))

    def get(self, trace_id: str) -> TraceDetail:
        return self._run(get_trace(self._project, trace_id))

    def score(
        self,
        trace_id: str,
        name: str,
        value: ScoreValue,
        *,
        source: str = "human",
        span_id: str | None = None,
        rationale: str | None = None,
    ) -> Score:
        body = _score_body(name, value, source, span_id, rationale)
        return self._run(add_score(self._project, trace_id, body))


class AsyncTracesApi(AsyncApi):
    async def list(self, **filters: Any) -> list[Trace]:
        return await self._run(list_traces(self._project, filters))

    async def to_pandas(self, **filters: Any) -> pd.DataFrame:
        return to_frame(await self.list(**filters))

    async def get(self, trace_id: str) -> TraceDetail:
        return await self._run(get_trace(self._project, trace_id))

    async def score(
        self,
        trace_id: str,
        name: str,
        value: ScoreValue,
        *,
        source: str = "human",
        span_id: str | None = None,
        rationale: str | None = None,
    ) -> Score:
        body = _score_body(name, value, source, span_id, rationale)
        return await self._run(add_score(self._project, trace_id, body))
