"""SDK operations on traces: list with filters (typed, or as pandas), one trace, scores,
end-user feedback, aggregates over time buckets, traces into datasets, retention."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from llmloop.data.from_traces import TracesAdded
from llmloop.records import Score, ScoreValue
from llmloop.sdk.base import AsyncApi, Call, SyncApi, as_type, to_frame
from llmloop.server.api.traces import TracesPruned
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


def post_feedback(project: str, body: dict[str, Any]) -> Call[Score]:
    body = {k: v for k, v in body.items() if v is not None}
    path = f"/api/v1/projects/{project}/feedback"
    return Call("POST", path, as_type(Score), json=body)


def add_to_dataset(
    project: str,
    dataset: str,
    trace_ids: Iterable[str] | None,
    filters: dict[str, Any],
    options: dict[str, Any],
) -> Call[TracesAdded]:
    """Traces by id, or (no ids) those matching ``filters``, as records of ``dataset``."""
    body: dict[str, Any] = dict(options)
    if trace_ids is not None:
        if filters:
            raise ValueError("give trace ids or filters, not both")
        body["trace_ids"] = list(trace_ids)
    else:
        where = TraceFilter.model_validate(filters)  # a bad filter fails before any request
        body["filter"] = where.model_dump(mode="json", exclude_defaults=True)
    path = f"/api/v1/projects/{project}/datasets/{dataset}/records/from-traces"
    return Call("POST", path, as_type(TracesAdded), json=body)


def prune(project: str, older_than: str, batch_size: int) -> Call[TracesPruned]:
    body = {"older_than": older_than, "batch_size": batch_size}
    return Call("POST", f"{_base(project)}/prune", as_type(TracesPruned), json=body)


def _feedback_body(
    trace_id: str,
    value: ScoreValue,
    name: str,
    span_id: str | None,
    comment: str | None,
    user_id: str | None,
) -> dict[str, Any]:
    return {"trace_id": trace_id, "value": value, "name": name, "span_id": span_id,
            "comment": comment, "user_id": user_id}  # fmt: skip


def _dataset_options(expectations_from_outputs: bool, create: bool, message: str) -> dict[str, Any]:
    return {"expectations_from_outputs": expectations_from_outputs, "create": create,
            "message": message}  # fmt: skip


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

    def feedback(
        self,
        trace_id: str,
        value: ScoreValue,
        *,
        name: str = "feedback",
        span_id: str | None = None,
        comment: str | None = None,
        user_id: str | None = None,
    ) -> Score:
        """End-user feedback on a trace (works with a public ``llpk_`` key): thumbs as
        True/False, a rating as a number or a category as a label."""
        body = _feedback_body(trace_id, value, name, span_id, comment, user_id)
        return self._run(post_feedback(self._project, body))

    def add_to_dataset(
        self,
        dataset: str,
        trace_ids: Iterable[str] | None = None,
        *,
        expectations_from_outputs: bool = False,
        create: bool = False,
        message: str = "",
        **filters: Any,
    ) -> TracesAdded:
        """Add traces (by id, or those matching ``filters``) to ``dataset`` as records that
        keep ``metadata.source_trace_id``; commits a new version and moves ``latest``."""
        options = _dataset_options(expectations_from_outputs, create, message)
        return self._run(add_to_dataset(self._project, dataset, trace_ids, filters, options))

    def prune(self, older_than: str, *, batch_size: int = 1000) -> TracesPruned:
        """Delete this project's traces that started longer ago than ``older_than``
        (``"30d"``, ``"12h"``, ``"2w"``); needs an admin key."""
        return self._run(prune(self._project, older_than, batch_size))


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

    async def feedback(
        self,
        trace_id: str,
        value: ScoreValue,
        *,
        name: str = "feedback",
        span_id: str | None = None,
        comment: str | None = None,
        user_id: str | None = None,
    ) -> Score:
        """End-user feedback on a trace (works with a public ``llpk_`` key): thumbs as
        True/False, a rating as a number or a category as a label."""
        body = _feedback_body(trace_id, value, name, span_id, comment, user_id)
        return await self._run(post_feedback(self._project, body))

    async def add_to_dataset(
        self,
        dataset: str,
        trace_ids: Iterable[str] | None = None,
        *,
        expectations_from_outputs: bool = False,
        create: bool = False,
        message: str = "",
        **filters: Any,
    ) -> TracesAdded:
        """Add traces (by id, or those matching ``filters``) to ``dataset`` as records that
        keep ``metadata.source_trace_id``; commits a new version and moves ``latest``."""
        options = _dataset_options(expectations_from_outputs, create, message)
        return await self._run(add_to_dataset(self._project, dataset, trace_ids, filters, options))

    async def prune(self, older_than: str, *, batch_size: int = 1000) -> TracesPruned:
        """Delete this project's traces that started longer ago than ``older_than``
        (``"30d"``, ``"12h"``, ``"2w"``); needs an admin key."""
        return await self._run(prune(self._project, older_than, batch_size))
