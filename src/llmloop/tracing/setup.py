"""Where SDK spans go: an OpenTelemetry TracerProvider with a batch processor.

:func:`configure` picks the exporter: the server's OTLP endpoint when a server URL is
configured (``LLMLOOP_SERVER_URL`` + ``LLMLOOP_API_KEY``), else a local exporter that
writes straight into the local store, or any OpenTelemetry ``SpanExporter`` you pass
(an in-memory one in tests). Export runs on the batch processor's thread: the caller
never waits for it, and a backend that is down costs a warning and a drop counter, not
an exception. The provider is flushed at interpreter exit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Tracer

from llmloop.runtime import Runtime
from llmloop.settings import Settings, load_settings
from llmloop.store.traces import TraceRepository
from llmloop.tracing import otlp

log = logging.getLogger("llmloop.tracing")

INSTRUMENTATION = "llmloop"
Redactor = Callable[[Any], Any]


@dataclass(frozen=True)
class CaptureSettings:
    """How inputs and outputs are captured: size limit per field and a redaction hook."""

    inputs: bool = True
    outputs: bool = True
    max_bytes: int = 16_384
    redact: Redactor | None = None


class LocalStoreExporter(SpanExporter):
    """Writes spans into the local store (no server), through the receiver's mapping."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runtime: Runtime | None = None
        self._project_id: str | None = None

    def _target(self) -> tuple[TraceRepository, str]:
        if self._runtime is None:
            self._runtime = Runtime(self.settings)
            project = self._runtime.tenancy.ensure_project(self.settings.project)
            self._project_id = project.id
        assert self._project_id is not None
        return TraceRepository(self._runtime.db), self._project_id

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        repo, project_id = self._target()
        decoded = otlp.to_spans(encode_spans(spans))
        repo.insert(project_id, decoded.spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None


class GuardedExporter(SpanExporter):
    """Never lets an export failure escape; counts the spans lost and warns."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.dropped = 0
        self._warned = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # the backend is down or refused: drop, count, warn once
            result = SpanExportResult.FAILURE
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = "the exporter reported a failure"
        if result is SpanExportResult.FAILURE:
            self.dropped += len(spans)
            if not self._warned:
                log.warning("llmloop tracing: %d spans dropped (%s)", len(spans), reason)
                self._warned = True
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class _State:
    lock = threading.Lock()
    provider: TracerProvider | None = None
    tracer: Tracer | None = None
    exporter: GuardedExporter | None = None
    capture = CaptureSettings()


def default_exporter(settings: Settings) -> SpanExporter:
    if settings.server_url:
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        return OTLPSpanExporter(
            endpoint=f"{settings.server_url}/v1/traces", headers=headers, timeout=10
        )
    return LocalStoreExporter(settings)


def configure(
    *,
    exporter: SpanExporter | None = None,
    settings: Settings | None = None,
    service_name: str = "llmloop-app",
    batch: bool = True,
    max_queue_size: int = 8192,
    capture: CaptureSettings | None = None,
) -> TracerProvider:
    """Set up (or replace) where :func:`~llmloop.tracing.observe` spans go."""
    settings = settings or load_settings()
    guarded = GuardedExporter(exporter or default_exporter(settings))
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    processor = (
        BatchSpanProcessor(guarded, max_queue_size=max_queue_size, schedule_delay_millis=500)
        if batch
        else SimpleSpanProcessor(guarded)
    )
    provider.add_span_processor(processor)
    with _State.lock:
        previous = _State.provider
        _State.provider, _State.exporter = provider, guarded
        _State.tracer = provider.get_tracer(INSTRUMENTATION)
        _State.capture = capture or CaptureSettings()
    if previous is not None:
        previous.shutdown()
    return provider


def tracer() -> Tracer:
    """The configured tracer; :func:`configure` with defaults on first use."""
    found = _State.tracer
    if found is None:
        configure()
        found = _State.tracer
        assert found is not None
    return found


def capture_settings() -> CaptureSettings:
    return _State.capture


def flush(timeout_millis: int = 30_000) -> bool:
    """Export every finished span now; True when all went out in time."""
    provider = _State.provider
    return True if provider is None else provider.force_flush(timeout_millis)


def shutdown() -> None:
    with _State.lock:
        provider, _State.provider, _State.tracer = _State.provider, None, None
    if provider is not None:
        provider.shutdown()


def dropped_spans() -> int:
    """Spans the exporter could not deliver since :func:`configure`."""
    return _State.exporter.dropped if _State.exporter is not None else 0
