"""``observe`` on OpenTelemetry: spans, nesting, capture, redaction, and real export."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmloop.runtime import Runtime
from llmloop.settings import Settings
from llmloop.store.traces import TraceRepository
from llmloop.tracing import CaptureSettings, configure, dropped_spans, flush, observe, shutdown
from support import LiveServer


@pytest.fixture
def memory() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    configure(exporter=exporter, batch=False, settings=Settings())
    yield exporter
    shutdown()


def by_name(exporter: InMemorySpanExporter) -> dict[str, Any]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_nested_sync_spans_capture_inputs_and_outputs(memory: InMemorySpanExporter) -> None:
    @observe(kind="tool")
    def lookup(city: str, *, units: str = "c") -> dict[str, Any]:
        return {"city": city, "temp": 21}

    @observe("agent", user_id="u-1", session_id="s-1", tags=["prod"])
    def agent(question: str) -> str:
        return f"{lookup('Lisbon')['temp']} degrees"

    assert agent("weather?") == "21 degrees"
    spans = by_name(memory)
    root, tool = (
        spans["agent"],
        spans["test_nested_sync_spans_capture_inputs_and_outputs.<locals>.lookup"],
    )
    assert tool.parent.span_id == root.context.span_id
    assert tool.context.trace_id == root.context.trace_id
    assert json.loads(tool.attributes["llmloop.inputs"]) == {"city": "Lisbon"}
    assert json.loads(tool.attributes["llmloop.outputs"]) == {"city": "Lisbon", "temp": 21}
    assert tool.attributes["llmloop.span.kind"] == "tool"
    assert root.attributes["llmloop.user_id"] == "u-1"
    assert root.attributes["llmloop.session_id"] == "s-1"
    assert root.attributes["llmloop.tags"] == ("prod",)
    assert root.attributes["llmloop.outputs"] == "21 degrees"


async def test_async_functions_and_generators(memory: InMemorySpanExporter) -> None:
    @observe
    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    @observe
    def numbers(k: int) -> Iterator[int]:
        yield from range(k)

    @observe
    async def stream(k: int) -> AsyncIterator[str]:
        for i in range(k):
            yield f"tok{i}"

    assert await asyncio.gather(fetch(1), fetch(2)) == [2, 4]
    assert list(numbers(3)) == [0, 1, 2]
    assert [t async for t in stream(2)] == ["tok0", "tok1"]
    finished = memory.get_finished_spans()
    outputs = sorted(s.attributes["llmloop.outputs"] for s in finished)
    assert outputs == ["2", "4", '["tok0", "tok1"]', "[0, 1, 2]"]
    assert len({s.context.trace_id for s in finished}) == 4  # separate calls, separate traces


def test_exceptions_are_recorded_and_reraised(memory: InMemorySpanExporter) -> None:
    @observe("boom")
    def boom() -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        boom()
    span = by_name(memory)["boom"]
    assert span.status.status_code.name == "ERROR"
    assert span.events[0].name == "exception"


def test_context_manager_with_usage(memory: InMemorySpanExporter) -> None:
    with observe("outer") as outer:
        outer.set_inputs({"q": "hi"})
        with observe("llm call", kind="llm") as inner:
            inner.set_usage(model="gpt-4o-mini", input_tokens=12, output_tokens=3)
            inner.set_outputs("hello")
    spans = by_name(memory)
    assert spans["llm call"].parent.span_id == spans["outer"].context.span_id
    assert spans["llm call"].attributes["gen_ai.usage.input_tokens"] == 12
    assert spans["outer"].attributes["llmloop.inputs"] == '{"q": "hi"}'


def test_truncation_and_redaction() -> None:
    def redact(value: Any) -> Any:
        if isinstance(value, dict) and "password" in value:
            return {**value, "password": "***"}
        return value

    memory = InMemorySpanExporter()
    configure(exporter=memory, batch=False, settings=Settings(),
              capture=CaptureSettings(max_bytes=50, redact=redact))  # fmt: skip

    @observe
    def login(user: str, password: str) -> str:
        return "x" * 200

    login("ann", "hunter2")
    shutdown()
    [span] = memory.get_finished_spans()
    assert "hunter2" not in span.attributes["llmloop.inputs"]
    assert json.loads(span.attributes["llmloop.inputs"])["password"] == "***"
    assert span.attributes["llmloop.outputs"] == "x" * 50 + "…[truncated]"
    assert span.attributes["llmloop.outputs_truncated"] is True


def test_a_failing_redaction_hook_never_breaks_the_call() -> None:
    def broken(value: Any) -> Any:
        raise RuntimeError("hook bug")

    memory = InMemorySpanExporter()
    configure(exporter=memory, batch=False, settings=Settings(),
              capture=CaptureSettings(redact=broken))  # fmt: skip

    @observe
    def work(x: int) -> int:
        return x + 1

    assert work(1) == 2
    shutdown()
    [span] = memory.get_finished_spans()
    assert "llmloop.inputs" not in span.attributes  # nothing unredacted leaks
    assert "hook bug" in span.attributes["llmloop.inputs_error"]


def test_backend_down_never_blocks_or_raises(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(server_url="http://127.0.0.1:9", api_key="nope")
    configure(settings=settings, batch=False)
    try:

        @observe
        def work() -> int:
            return 7

        with caplog.at_level(logging.WARNING, logger="llmloop.tracing"):
            assert work() == 7
        assert dropped_spans() == 1
        assert "spans dropped" in caplog.text
    finally:
        shutdown()


def test_spans_reach_the_server_over_otlp(live_server: LiveServer, runtime: Runtime) -> None:
    tenant = live_server.tenant("sdk-e2e")
    settings = Settings(server_url=live_server.url, api_key=tenant.secret("editor"))
    configure(settings=settings, service_name="shop")
    try:
        with observe("checkout", tags=["e2e"], user_id="u-9") as span:
            span.set_inputs({"cart": ["apple"]})
            with observe("price", kind="llm") as llm:
                llm.set_usage(model="gpt-4o-mini", input_tokens=100, output_tokens=20)
        assert flush(10_000)
    finally:
        shutdown()
    repo = TraceRepository(runtime.db)
    [trace] = repo.list(tenant.project.id)
    assert (trace.name, trace.span_count, trace.service) == ("checkout", 2, "shop")
    assert (trace.user_id, trace.tags, trace.model) == ("u-9", ["e2e"], "gpt-4o-mini")
    [root] = repo.tree(tenant.project.id, trace.trace_id)
    assert root.span.inputs == {"cart": ["apple"]}
    assert [c.span.kind for c in root.children] == ["llm"]


def test_without_a_server_spans_go_to_the_local_store(runtime: Runtime, settings: Settings) -> None:
    configure(settings=settings.model_copy(update={"project": "local-app"}))
    try:

        @observe("local-step")
        def step() -> str:
            return "done"

        step()
        assert flush(10_000)
    finally:
        shutdown()
    project = runtime.tenancy.ensure_project("local-app")
    [trace] = TraceRepository(runtime.db).list(project.id)
    assert trace.name == "local-step"
