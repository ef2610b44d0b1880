"""One trace per gateway call, handed to the trace writer without waiting for it.

The root span (kind ``llm`` or ``embedding``) carries the model, provider, tokens,
cost, status and latency, the deployment, arm and environment as tags and attributes,
and the user and session. When a call needed more than one attempt (retries,
fallbacks, an open circuit), each attempt is a child span. The spans are queued on
the shared :class:`~llmloop.tracing.writer.TraceWriter`; when its queue is full the
trace is dropped and counted, never waited for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from llmloop.store.traces_types import Span, SpanKind, SpanStatus

__all__ = ["Attempt", "CallRecord", "TraceSink", "new_trace_id"]

log = logging.getLogger("llmloop.gateway")

Submit = Callable[[str, list[Span]], Any]


def new_trace_id() -> str:
    return os.urandom(16).hex()


@dataclass(slots=True)
class Attempt:
    model: str  # provider/name
    started: float  # perf_counter
    ended: float = 0.0
    status: SpanStatus = "ok"
    error_kind: str | None = None
    message: str | None = None
    http_status: int | None = None


@dataclass(slots=True)
class CallRecord:
    """What happened in one call, filled in as it goes."""

    trace_id: str
    kind: SpanKind  # "llm" or "embedding"
    project_id: str
    requested_model: str
    started_wall: datetime
    started: float
    inputs: Any = None
    outputs: Any = None
    model: str | None = None  # the model that answered, as the upstream reported it
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    status: SpanStatus = "ok"
    message: str | None = None
    user: str | None = None
    session: str | None = None
    deployment: str | None = None
    environment: str | None = None
    arm: str | None = None
    version_id: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, name: str, **attributes: Any) -> None:
        at = self.started_wall + timedelta(seconds=time.perf_counter() - self.started)
        self.events.append({"name": name, "time": at.isoformat(), "attributes": attributes})

    def _root_attributes(self) -> dict[str, Any]:
        attrs = {
            "gen_ai.operation.name": "chat" if self.kind == "llm" else "embeddings",
            "gen_ai.request.model": self.requested_model,
            "llmloop.gateway": True,
            **self.attributes,
        }
        if self.deployment:
            attrs["llmloop.deployment"] = self.deployment
            attrs["llmloop.arm"] = self.arm
            if self.version_id:
                attrs["llmloop.deployment.version_id"] = self.version_id
            if self.environment:
                attrs["llmloop.environment"] = self.environment
        if len(self.attempts) > 1:
            attrs["llmloop.attempts"] = len(self.attempts)
        return attrs

    def spans(self, ended: float) -> list[Span]:
        root_id = os.urandom(8).hex()
        end_wall = self.started_wall + timedelta(seconds=ended - self.started)
        tags = list(self.tags)
        if self.deployment:
            tags += [f"deployment:{self.deployment}", f"arm:{self.arm}"]
            if self.environment:
                tags.append(f"env:{self.environment}")
        name = f"{'chat' if self.kind == 'llm' else 'embeddings'} {self.requested_model}"
        # built without validation: every value is made here, on the request path
        root = Span.model_construct(
            trace_id=self.trace_id,
            span_id=root_id,
            parent_span_id=None,
            name=name,
            kind=self.kind,
            start_time=self.started_wall,
            end_time=end_wall,
            duration_ms=max(0.0, (ended - self.started) * 1000),
            status=self.status,
            status_message=self.message,
            service="llmloop-gateway",
            model=self.model,
            provider=self.provider,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=self.cost_usd,
            user_id=self.user,
            session_id=self.session,
            tags=sorted(set(tags)),
            inputs=self.inputs,
            outputs=self.outputs,
            attributes=self._root_attributes(),
            events=self.events,
            flags=[],
        )
        spans = [root]
        if len(self.attempts) > 1:
            spans.extend(self._attempt_span(root_id, i, a) for i, a in enumerate(self.attempts))
        return spans

    def _attempt_span(self, parent: str, index: int, attempt: Attempt) -> Span:
        provider, _, model = attempt.model.partition("/")
        return Span.model_construct(
            trace_id=self.trace_id,
            span_id=os.urandom(8).hex(),
            parent_span_id=parent,
            name=f"attempt {index + 1} {attempt.model}",
            kind=self.kind,
            start_time=self.started_wall + timedelta(seconds=attempt.started - self.started),
            end_time=self.started_wall + timedelta(seconds=attempt.ended - self.started),
            duration_ms=max(0.0, (attempt.ended - attempt.started) * 1000),
            status=attempt.status,
            status_message=attempt.message,
            service="llmloop-gateway",
            model=model,
            provider=provider,
            input_tokens=0,
            output_tokens=0,
            cost_usd=None,
            user_id=self.user,
            session_id=self.session,
            tags=[],
            inputs=None,
            outputs=None,
            attributes={
                "llmloop.attempt": index + 1,
                "llmloop.error.kind": attempt.error_kind,
                "http.response.status_code": attempt.http_status,
            },
            events=[],
            flags=[],
        )


class TraceSink:
    """Hands finished calls to the trace writer in batches; counts what it had to drop.

    Spans wait up to ``flush_s`` (or until ``batch_spans`` are waiting) so the writer
    commits many calls at once instead of waking for every call.
    """

    def __init__(
        self, submit: Submit | None, *, flush_s: float = 0.05, batch_spans: int = 2000
    ) -> None:
        self._submit = submit
        self.flush_s = flush_s
        self.batch_spans = batch_spans
        self.queued = 0
        self.dropped = 0
        self._pending: dict[str, list[Span]] = {}
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None

    def start(
        self, kind: SpanKind, project_id: str, requested_model: str, inputs: Any = None
    ) -> CallRecord:
        return CallRecord(
            trace_id=new_trace_id(),
            kind=kind,
            project_id=project_id,
            requested_model=requested_model,
            started_wall=datetime.now(UTC),
            started=time.perf_counter(),
            inputs=inputs,
        )

    def finish(self, record: CallRecord) -> None:
        if self._submit is None:
            return
        spans = record.spans(time.perf_counter())
        self._pending.setdefault(record.project_id, []).extend(spans)
        self._count += 1
        if sum(len(s) for s in self._pending.values()) >= self.batch_spans:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.flush_s, self.flush)

    def flush(self) -> None:
        """Queue what is waiting on the writer now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, count = self._pending, self._count
        self._pending, self._count = {}, 0
        if self._submit is None or not pending:
            return
        for project_id, spans in pending.items():
            try:
                self._submit(project_id, spans)
            except Exception as exc:  # a full queue (WriterBusy) or a closing writer
                dropped = len({s.trace_id for s in spans})
                self.dropped += dropped
                count -= dropped
                log.warning("gateway traces dropped: %d so far (%s)", self.dropped, exc)
        self.queued += count
