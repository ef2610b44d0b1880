"""The official OpenTelemetry SDK's OTLP/HTTP exporter against the running server."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from llmloop.runtime import Runtime
from llmloop.store.traces import TraceRepository
from support import LiveServer


def test_official_exporter_with_gzip_lands_in_the_store(
    live_server: LiveServer, runtime: Runtime
) -> None:
    tenant = live_server.tenant("otel")
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces",
        headers=tenant.headers("editor"),
        compression=Compression.Gzip,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout-svc"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("handle request") as root:
        root.set_attribute("session.id", "sess-1")
        for i in range(3):
            with tracer.start_as_current_span("chat gpt-4o-mini") as span:
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute("gen_ai.system", "openai")
                span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                span.set_attribute("gen_ai.usage.input_tokens", 10 + i)
                span.set_attribute("gen_ai.usage.output_tokens", 5)
                span.set_attribute("gen_ai.prompt", f"question {i}")
                if i == 2:
                    span.set_status(Status(StatusCode.ERROR, "upstream timeout"))
    assert provider.force_flush(10_000)
    provider.shutdown()

    repo = TraceRepository(runtime.db)
    [trace] = repo.list(tenant.project.id)
    assert trace.trace_id == format(root.get_span_context().trace_id, "032x")
    assert (trace.name, trace.span_count, trace.status, trace.error_count) == (
        "handle request", 4, "error", 1,
    )  # fmt: skip
    assert (trace.session_id, trace.service) == ("sess-1", "checkout-svc")
    assert (trace.input_tokens, trace.output_tokens) == (33, 15)
    [node] = repo.tree(tenant.project.id, trace.trace_id)
    assert [c.span.inputs for c in node.children] == ["question 0", "question 1", "question 2"]
    assert node.children[2].span.status_message == "upstream timeout"
