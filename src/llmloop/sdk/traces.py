"""SDK operations on traces: list with filters (typed, or as pandas), one trace, scores,
aggregates over time buckets."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from llmloop.records import Score, ScoreValue
from llmloop.sdk.base import AsyncApi, Call, SyncApi, as_type, to_frame
from llmloop.store.trace_stats_types import TraceStatsQuery, TraceStatsRow
from llmloop.store.traces_types import Span, Trace, TraceDetail, TraceFilter


def _base(project: str) -> str:
    return f"/api/v1/projects/{project}/traces"


def list_traces(project: str, filters: dict[str, Any]) -> Call[list[Trace]]:
    where = TraceFilter.model_validate(filters)  # a bad filter fails here, before any request
    params = where.model_dump(mode="json", exclude_defaults=True)
    return Call("GET", _base(project), as_type(list[Trace]), params=params)


def get_trace(project: str, trace_id: str) -> Call[TraceDetail]:
    return Call("GET", f"{_base(project)}/{trace_id}", as_type(TraceDetail))


def trace_stats(project: str, query: dict[str, Any]) -> Call[list[TraceStatsRow]]:
    checked = TraceStatsQuery.model_validate(query)  # a bad query fails before any request
    params = checked.model_dump(mode="json", exclude_defaults=True)
    params["bucket"] = checked.bucket
    return Call("GET", f"{_base(project)}/stats", as_type(list[TraceStatsRow]), params=params)


def trace_spans(project: str, filters: dict[str, Any]) -> Call[list[Span]]:
    where = TraceFilter.model_validate(filters)
    params = where.model_dump(mode="json", exclude_defaults=True)
    return Call("GET", f"{_base(project)}/spans", as_type(list[Span]), params=params)


ExportFormat = Literal["jsonl", "parquet"]
EXPORT_PAGE = 500  # traces per request
_JSON_FIELDS = ("inputs", "outputs", "attributes", "events")


def _pages(filters: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """The filters of each page of traces, newest first, until a short page."""
    offset = 0
    while True:
        yield {**filters, "limit": EXPORT_PAGE, "offset": offset}
        offset += EXPORT_PAGE


class _Writer:
    """Spans to a JSONL file (streamed) or a Parquet file (free-form fields as JSON text)."""

    def __init__(self, path: str | Path, fmt: ExportFormat) -> None:
        if fmt not in ("jsonl", "parquet"):
            raise ValueError(f"unknown export format {fmt!r}: use jsonl or parquet")
        self.path, self.fmt, self.count = Path(path), fmt, 0
        self.rows: list[dict[str, Any]] = []
        self.file = self.path.open("w", encoding="utf-8") if fmt == "jsonl" else None

    def add(self, page: list[Span]) -> None:
        for span in page:
            row = span.model_dump(mode="json")
            if self.file is not None:
                self.file.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                for name in _JSON_FIELDS:
                    row[name] = json.dumps(row[name], ensure_ascii=False)
                self.rows.append(row)
        self.count += len(page)

    def close(self) -> int:
        if self.file is not None:
            self.file.close()
        else:
            frame = pd.DataFrame(self.rows, columns=list(Span.model_fields))
            frame.to_parquet(self.path, index=False)
        return self.count


def add_score(project: str, trace_id: str, body: dict[str, Any]) -> Call[Score]:
    body = {k: v for k, v in body.items() if v is not None}
    return Call("POST", f"{_base(project)}/{trace_id}/scores", as_type(Score), json=body)


def _score_body(
    name: str, value: ScoreValue, source: str, span_id: str | None, rationale: str | None
) -> dict[str, Any]:
    return {"name": name, "value": value, "source": source, "span_id": span_id,
            "rationale": rationale}  # fmt: skip


class TracesApi(SyncApi):
    def list(self, **filters: Any) -> builtins.list[Trace]:
        """Traces, newest first; filters as in :class:`TraceFilter` (model=, tags=[…], …)."""
        return self._run(list_traces(self._project, filters))

    def to_pandas(self, **filters: Any) -> pd.DataFrame:
        return to_frame(self.list(**filters))

    def get(self, trace_id: str) -> TraceDetail:
        return self._run(get_trace(self._project, trace_id))

    def stats(self, **query: Any) -> builtins.list[TraceStatsRow]:
        """Per time bucket (bucket="minute"|"hour"|"day", group_by="model"|"name"|"tag",
        since=, until=, and the list filters): count, tokens, cost, p50/p95, error rate."""
        return self._run(trace_stats(self._project, query))

    def stats_to_pandas(self, **query: Any) -> pd.DataFrame:
        """:meth:`stats` as a DataFrame, one row per bucket (and group)."""
        return to_frame(self.stats(**query))

    def spans(self, **filters: Any) -> builtins.list[Span]:
        """Every span of one page of traces matching ``filters`` (limit=, offset=)."""
        return self._run(trace_spans(self._project, filters))

    def export(self, path: str | Path, format: ExportFormat = "jsonl", **filters: Any) -> int:
        """Write every span of the matching traces to ``path``; return how many."""
        filters.pop("limit", None)
        TraceFilter.model_validate(filters)  # a bad filter fails before the file is created
        writer = _Writer(path, format)
        try:
            for page_filters in _pages(filters):
                page = self.spans(**page_filters)
                writer.add(page)
                if len({s.trace_id for s in page}) < EXPORT_PAGE:  # each trace has a span
                    break
        except BaseException:
            writer.close()
            Path(path).unlink(missing_ok=True)  # no partial file left behind
            raise
        return writer.close()

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
    async def list(self, **filters: Any) -> builtins.list[Trace]:
        return await self._run(list_traces(self._project, filters))

    async def to_pandas(self, **filters: Any) -> pd.DataFrame:
        return to_frame(await self.list(**filters))

    async def get(self, trace_id: str) -> TraceDetail:
        return await self._run(get_trace(self._project, trace_id))

    async def stats(self, **query: Any) -> builtins.list[TraceStatsRow]:
        return await self._run(trace_stats(self._project, query))

    async def stats_to_pandas(self, **query: Any) -> pd.DataFrame:
        return to_frame(await self.stats(**query))

    async def spans(self, **filters: Any) -> builtins.list[Span]:
        return await self._run(trace_spans(self._project, filters))

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
