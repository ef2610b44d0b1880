"""``instrument_openai``: the real ``openai`` SDK against a scripted upstream on loopback,
spans checked in memory, in the local store and through a live server's OTLP receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import llmloop
from llmloop.runtime import Runtime
from llmloop.settings import Settings
from llmloop.store.traces import TraceRepository
from llmloop.testing import ScriptedUpstream
from llmloop.tracing import (
    CaptureSettings,
    configure,
    flush,
    instrument_openai,
    observe,
    shutdown,
    uninstrument_openai,
)
from support import LiveServer

WEATHER_CALL = {"name": "get_weather", "arguments": {"city": "Lisbon"}}


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


@pytest.fixture
def memory(upstream: ScriptedUpstream) -> Iterator[InMemorySpanExporter]:
    upstream.reset()
    exporter = InMemorySpanExporter()
    configure(exporter=exporter, batch=False, settings=Settings())
    instrument_openai()
    yield exporter
    uninstrument_openai()
    shutdown()


def sync_client(upstream: ScriptedUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=upstream.base_url, api_key="test", max_retries=0)


def async_client(upstream: ScriptedUpstream) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=upstream.base_url, api_key="test", max_retries=0)


def only(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = exporter.get_finished_spans()
    return span


def test_is_exported_from_the_package() -> None:
    assert llmloop.instrument_openai is instrument_openai


def test_chat_with_parameters_messages_and_tool_calls(
    upstream: ScriptedUpstream, memory: InMemorySpanExporter
) -> None:
    upstream.script(tool_calls=[WEATHER_CALL], usage={"prompt_tokens": 11, "completion_tokens": 7})
    client = sync_client(upstream)
    result = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "rain?"}],
        temperature=0.2,
        max_tokens=50,
        top_p=0.9,
        stop=["END"],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
    )
    assert result.choices[0].finish_reason == "tool_calls"  # the caller's answer untouched
    span = only(memory)
    a = span.attributes
    assert span.name == "chat gpt-4o-mini" and span.kind is SpanKind.CLIENT
    assert (a["gen_ai.operation.name"], a["gen_ai.provider.name"], a["gen_ai.system"]) == (
        "chat", "openai", "openai",
    )  # fmt: skip
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert (a["gen_ai.request.temperature"], a["gen_ai.request.max_tokens"]) == (0.2, 50)
    assert (a["gen_ai.request.top_p"], a["gen_ai.request.stop_sequences"]) == (0.9, ("END",))
    assert (a["gen_ai.response.model"], a["gen_ai.response.id"]) == ("gpt-4o-mini", result.id)
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 7)
    assert (a["server.address"], a["server.port"]) == ("127.0.0.1", upstream.port)
    assert json.loads(str(a["gen_ai.input.messages"])) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "rain?"}]},
    ]
    [out] = json.loads(str(a["gen_ai.output.messages"]))
    assert out["finish_reason"] == "tool_calls"
    assert out["parts"] == [
        {"type": "tool_call", "id": result.choices[0].message.tool_calls[0].id,
         "name": "get_weather", "arguments": {"city": "Lisbon"}}
    ]  # fmt: skip
    assert "get_weather" in str(a["gen_ai.tool.definitions"])


def test_stream_span_ends_when_consumed_with_usage(
    upstream: ScriptedUpstream, memory: InMemorySpanExporter
) -> None:
    upstream.script(
        chunks=["Hel", "lo ", "there"], usage={"prompt_tokens": 4, "completion_tokens": 3}
    )
    stream = sync_client(upstream).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    assert memory.get_finished_spans() == ()  # still streaming: the span is open
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello there"
    span = only(memory)
    a = span.attributes
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (4, 3)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert json.loads(str(a["gen_ai.output.messages"]))[0]["parts"] == [
        {"type": "text", "content": "Hello there"}
    ]
    assert span.end_time is not None and span.end_time >= span.start_time


def test_stream_closed_early_ends_the_span(
    upstream: ScriptedUpstream, memory: InMemorySpanExporter
) -> None:
    upstream.script(chunks=["a ", "b ", "c ", "d"])
    with sync_client(upstream).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True
    ) as stream:
        next(iter(stream))
        next(iter(stream))
    span = only(memory)
    assert span.status.status_code.name == "UNSET"
    assert "gen_ai.usage.input_tokens" not in span.attributes  # not sent without include_usage


def test_errors_are_recorded_and_raised(
    upstream: ScriptedUpstream, memory: InMemorySpanExporter
) -> None:
    upstream.script(status=429, error={"message": "slow down"})
    with pytest.raises(openai.RateLimitError):
        sync_client(upstream).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    span = only(memory)
    assert span.attributes["error.type"] == "RateLimitError"
    assert span.attributes["http.response.status_code"] == 429
    assert span.status.status_code.name == "ERROR"
    assert span.events[0].name == "exception"


async def test_async_chat_stream_and_embeddings(
    upstream: ScriptedUpstream, memory: InMemorySpanExporter
) -> None:
    client = async_client(upstream)
    upstream.script(reply="pong", usage={"prompt_tokens": 2, "completion_tokens": 1})
    done = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}], n=1
    )
    assert done.choices[0].message.content == "pong"
    upstream.script(tool_calls=[WEATHER_CALL])
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "w"}], stream=True
    )
    assert [c async for c in stream]
    vectors = await client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"])
    assert len(vectors.data) == 2
    chat, streamed, embed = sorted(memory.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert chat.attributes["gen_ai.usage.output_tokens"] == 1
    [out] = json.loads(str(streamed.attributes["gen_ai.output.messages"]))
    assert out["parts"][0]["name"] == "get_weather"
    assert out["parts"][0]["arguments"] == {"city": "Lisbon"}  # reassembled from deltas
    assert embed.name == "embeddings text-embedding-3-small"
    assert embed.attributes["gen_ai.operation.name"] == "embeddings"
    assert embed.attributes["gen_ai.usage.input_tokens"] == 3
    assert embed.attributes["gen_ai.embeddings.dimension.count"] == 16
    assert json.loads(str(embed.attributes["llmloop.inputs"])) == {"input": ["a b", "c"]}


def test_redaction_and_size_limit_apply_to_messages(upstream: ScriptedUpstream) -> None:
    def redact(value: Any) -> Any:
        return json.loads(json.dumps(value).replace("s3cret", "***"))

    memory = InMemorySpanExporter()
    configure(exporter=memory, batch=False, settings=Settings(),
              capture=CaptureSettings(max_bytes=120, redact=redact))  # fmt: skip
    instrument_openai()
    try:
        sync_client(upstream).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "my pin is s3cret " * 20}]
        )
    finally:
        uninstrument_openai()
        shutdown()
    a = only(memory).attributes
    assert "s3cret" not in str(a["gen_ai.input.messages"]) + str(a["gen_ai.output.messages"])
    assert str(a["gen_ai.input.messages"]).endswith("…[truncated]")
    assert a["llmloop.truncated"] is True


def test_one_client_only_and_nested_under_observe(upstream: ScriptedUpstream) -> None:
    memory = InMemorySpanExporter()
    configure(exporter=memory, batch=False, settings=Settings())
    traced, plain = sync_client(upstream), sync_client(upstream)
    instrument_openai(traced)
    instrument_openai(traced)  # twice: still one span per call
    try:
        with observe("answer"):
            traced.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
        plain.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}])
        uninstrument_openai(traced)
        traced.chat.completions.create(model="m", messages=[{"role": "user", "content": "c"}])
    finally:
        shutdown()
    root, chat = sorted(memory.get_finished_spans(), key=lambda s: s.name)
    assert (chat.name, root.name) == ("chat m", "answer")
    assert chat.parent is not None and chat.parent.span_id == root.context.span_id


def _call_everything(client: openai.OpenAI) -> None:
    with observe("support-bot", user_id="u-7"):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "where is my order"}]
        )
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "and now?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass
        client.embeddings.create(model="text-embedding-3-small", input="order status")


def _check_stored(runtime: Runtime, project_id: str) -> None:
    repo = TraceRepository(runtime.db)
    [trace] = repo.list(project_id)
    assert (trace.name, trace.span_count, trace.user_id) == ("support-bot", 4, "u-7")
    assert trace.input_tokens == 4 + 2 + 2  # chat, stream, embeddings
    [root] = repo.tree(project_id, trace.trace_id)
    chat, streamed, embed = (node.span for node in root.children)
    assert (chat.kind, chat.model, chat.provider) == ("llm", "gpt-4o-mini", "openai")
    asked = {"type": "text", "content": "where is my order"}
    assert chat.inputs == [{"role": "user", "parts": [asked]}]
    assert chat.outputs[0]["parts"] == [{"type": "text", "content": "where is my order"}]
    assert chat.cost_usd is not None and chat.cost_usd > 0  # usage x the price table
    assert (streamed.output_tokens, streamed.outputs[0]["parts"][0]["content"]) == (2, "and now?")
    assert (embed.kind, embed.input_tokens) == ("embedding", 2)


def test_local_store_without_a_server(
    upstream: ScriptedUpstream, runtime: Runtime, settings: Settings
) -> None:
    configure(settings=settings.model_copy(update={"project": "bot"}))
    instrument_openai()
    try:
        _call_everything(sync_client(upstream))
        assert flush(10_000)
    finally:
        uninstrument_openai()
        shutdown()
    _check_stored(runtime, runtime.tenancy.ensure_project("bot").id)


def test_through_a_live_server(
    upstream: ScriptedUpstream, live_server: LiveServer, runtime: Runtime
) -> None:
    tenant = live_server.tenant("openai-otlp")
    configure(settings=Settings(server_url=live_server.url, api_key=tenant.secret("editor")))
    client = sync_client(upstream)
    instrument_openai(client)
    try:
        _call_everything(client)
        assert flush(10_000)
    finally:
        shutdown()
    _check_stored(runtime, tenant.project.id)
