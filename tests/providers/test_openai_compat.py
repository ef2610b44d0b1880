"""The OpenAI-compatible provider through the real openai SDK against the scripted upstream."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from llmloop.errors import ProviderError
from llmloop.providers.base import (
    ChatChunk,
    ChatRequest,
    EmbeddingRequest,
    FunctionCall,
    Message,
    ToolCall,
)
from llmloop.providers.openai_compat import NO_KEY, OpenAICompatProvider
from llmloop.providers.pricing import PriceTable
from llmloop.providers.transport import RetryPolicy, should_fall_back
from llmloop.testing import ScriptedUpstream, embed_text

MakeProvider = Callable[..., OpenAICompatProvider]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def ask(text: str = "what is up", model: str = "gpt-4o-mini", **params: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message(role="user", content=text)], **params)


async def collect(provider: OpenAICompatProvider, request: ChatRequest) -> list[ChatChunk]:
    return [chunk async for chunk in provider.chat_stream(request)]


# -- chat --------------------------------------------------------------------------------


async def test_chat_returns_text_usage_cost_and_latency(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(reply="Paris.", usage={"prompt_tokens": 1000, "completion_tokens": 2000})
    response = await provider.chat(ask("capital of France?"))
    assert response.text == "Paris."
    assert response.model == "gpt-4o-mini"
    assert response.finish_reason == "stop"
    assert response.id.startswith("chatcmpl-")
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (1000, 2000)
    assert response.usage.total_tokens == 3000
    assert response.cost_usd == pytest.approx((1000 * 0.15 + 2000 * 0.60) / 1e6)
    assert response.latency_ms is not None and response.latency_ms > 0


async def test_chat_sends_every_parameter(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream, secret: str
) -> None:
    request = ChatRequest(
        model="gpt-4o-mini",
        messages=[
            Message(role="system", content="be brief"),
            Message(role="user", content=[{"type": "text", "text": "hi"}]),
        ],
        temperature=0.2,
        top_p=0.9,
        max_tokens=50,
        stop=["\n"],
        seed=7,
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        response_format={"type": "json_object"},
        user="u-1",
        extra={"frequency_penalty": 0.5, "logit_bias": {"50256": -100}},
    )
    await provider.chat(request)
    (received,) = upstream.requests
    body = received.body
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ]
    expected = {
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "stop": ["\n"],
        "seed": 7,
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "user": "u-1",
        "frequency_penalty": 0.5,
        "logit_bias": {"50256": -100},
    }
    assert {k: body[k] for k in expected} == expected
    assert "stream" not in body
    assert received.headers["authorization"] == f"Bearer {secret}"


async def test_reasoning_models_get_max_completion_tokens(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    await provider.chat(ask(model="o3-mini", max_tokens=64))
    await provider.chat(ask(model="gpt-4o", max_tokens=64))
    reasoning, classic = (r.body for r in upstream.requests)
    assert reasoning["max_completion_tokens"] == 64 and "max_tokens" not in reasoning
    assert classic["max_tokens"] == 64 and "max_completion_tokens" not in classic


async def test_tool_calls_and_tool_results_round_trip(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(
        tool_calls=[{"id": "call_9", "name": "get_weather", "arguments": {"city": "Oslo"}}]
    )
    first = await provider.chat(ask("weather in Oslo?", tools=[WEATHER_TOOL]))
    assert first.finish_reason == "tool_calls"
    assert first.message.content is None
    assert first.message.tool_calls == [
        ToolCall(
            id="call_9", function=FunctionCall(name="get_weather", arguments='{"city": "Oslo"}')
        )
    ]
    follow_up = ChatRequest(
        model="gpt-4o-mini",
        messages=[
            Message(role="user", content="weather in Oslo?"),
            first.message,
            Message(role="tool", tool_call_id="call_9", content="-3C, snow"),
        ],
    )
    upstream.script(reply="It is -3C and snowing.")
    second = await provider.chat(follow_up)
    assert second.text == "It is -3C and snowing."
    sent = upstream.requests[1].body["messages"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_9", "content": "-3C, snow"}


async def test_unknown_model_has_no_cost(provider: OpenAICompatProvider) -> None:
    response = await provider.chat(ask(model="my-finetune"))
    assert response.usage.total_tokens > 0
    assert response.cost_usd is None


async def test_missing_usage_means_unknown_cost(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    completion = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
    }
    upstream.script(body=completion)
    response = await provider.chat(ask())
    assert response.text == "ok"
    assert response.cost_usd is None


async def test_no_key_sends_a_placeholder_never_the_environment_key(
    make_provider: MakeProvider,
    upstream: ScriptedUpstream,
    monkeypatch: pytest.MonkeyPatch,
    secret: str,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-environment")
    provider = make_provider(name="vllm", api_key=None)
    await provider.chat(ask())
    assert upstream.requests[0].headers["authorization"] == f"Bearer {NO_KEY}"
    assert secret not in repr(provider) and "sk-" not in repr(provider)


# -- streaming ---------------------------------------------------------------------------


async def test_stream_text_with_final_usage_and_cost(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(
        chunks=["The ", "answer ", "is 42."], usage={"prompt_tokens": 10, "completion_tokens": 5}
    )
    chunks = await collect(provider, ask())
    assert "".join(c.content or "" for c in chunks) == "The answer is 42."
    assert [c.content for c in chunks[:-1]] == ["The ", "answer ", "is 42."]
    last = chunks[-1]
    assert last.finish_reason == "stop"
    assert last.usage is not None and (last.usage.prompt_tokens, last.usage.completion_tokens) == (
        10,
        5,
    )
    assert last.cost_usd == pytest.approx((10 * 0.15 + 5 * 0.60) / 1e6)
    assert all(c.usage is None for c in chunks[:-1])
    body = upstream.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_stream_tool_call_deltas(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(
        tool_calls=[
            {"id": "call_a", "name": "get_weather", "arguments": {"city": "Rome"}},
            {"id": "call_b", "name": "get_weather", "arguments": {"city": "Lima"}},
        ]
    )
    chunks = await collect(provider, ask(tools=[WEATHER_TOOL]))
    deltas = [d for c in chunks for d in c.tool_calls or []]
    calls: dict[int, dict[str, str]] = {}
    for delta in deltas:
        call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
        call["id"] += delta.id or ""
        call["name"] += delta.name or ""
        call["arguments"] += delta.arguments or ""
    assert calls[0]["id"] == "call_a" and calls[1]["id"] == "call_b"
    assert {calls[i]["name"] for i in calls} == {"get_weather"}
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [
        {"city": "Rome"},
        {"city": "Lima"},
    ]
    assert chunks[-1].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None


async def test_stream_without_usage_option(
    make_provider: MakeProvider, upstream: ScriptedUpstream
) -> None:
    provider = make_provider(stream_usage=False)
    chunks = await collect(provider, ask("two words"))
    assert "stream_options" not in upstream.requests[0].body
    assert "".join(c.content or "" for c in chunks) == "two words"
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is None


async def test_stream_retried_before_the_first_chunk(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(status=503, error={"message": "warming up"})
    upstream.script(drop=True)
    chunks = await collect(provider, ask("eventually"))
    assert "".join(c.content or "" for c in chunks) == "eventually"
    assert len(upstream.requests) == 3


async def test_stream_broken_midway_raises_without_retry(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(chunks=["one ", "two ", "three"], disconnect_after=3)
    received: list[str] = []
    with pytest.raises(ProviderError) as caught:
        async for chunk in provider.chat_stream(ask()):
            received.append(chunk.content or "")
    assert received == ["one ", "two "]
    assert caught.value.kind == "connection"
    assert len(upstream.requests) == 1


async def test_stream_error_event_becomes_provider_error(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(
        chunks=["partial"], stream_error={"message": "the model crashed", "type": "server_error"}
    )
    with pytest.raises(ProviderError, match="the model crashed") as caught:
        await collect(provider, ask())
    assert caught.value.kind == "server"
    assert len(upstream.requests) == 1


# -- embeddings and models ---------------------------------------------------------------


async def test_embeddings_vectors_usage_and_cost(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    texts = ["reset my password", "where is my parcel"]
    response = await provider.embed(
        EmbeddingRequest(model="text-embedding-3-small", input=texts, dimensions=12)
    )
    assert response.vectors == [pytest.approx(embed_text(t, 12)) for t in texts]
    assert response.usage.prompt_tokens == 7
    assert response.cost_usd == pytest.approx(7 * 0.02 / 1e6)
    assert response.latency_ms is not None and response.latency_ms > 0
    body = upstream.requests[0].body
    assert body == {
        "model": "text-embedding-3-small",
        "input": texts,
        "encoding_format": "float",
        "dimensions": 12,
    }


async def test_embeddings_of_nothing_cost_nothing(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    response = await provider.embed(EmbeddingRequest(model="text-embedding-3-small", input=[]))
    assert response.vectors == [] and response.cost_usd == 0.0
    assert upstream.requests == []


async def test_embeddings_are_retried(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(status=502, endpoint="embeddings")
    response = await provider.embed(EmbeddingRequest(model="e", input=["x"]))
    assert len(response.vectors) == 1
    assert len(upstream.requests) == 2


async def test_list_models(provider: OpenAICompatProvider) -> None:
    models = await provider.list_models()
    assert [m.id for m in models] == [
        "openai/gpt-4o-mini",
        "openai/gpt-4o",
        "openai/text-embedding-3-small",
    ]
    assert [m.kind for m in models] == ["chat", "chat", "embedding"]


# -- retries and errors ------------------------------------------------------------------


async def test_429_retry_honours_retry_after(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(status=429, headers={"Retry-After": "1"}, error={"message": "slow down"})
    upstream.script(reply="finally")
    response = await provider.chat(ask())
    assert response.text == "finally"
    first, second = upstream.requests
    assert second.received_at - first.received_at >= 1.0


async def test_retry_after_ms_is_preferred(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(status=429, headers={"retry-after-ms": "300", "Retry-After": "5"})
    started = time.perf_counter()
    await provider.chat(ask())
    first, second = upstream.requests
    assert 0.3 <= second.received_at - first.received_at < 1.0
    assert time.perf_counter() - started < 2.0


async def test_500_then_503_then_success(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(status=500, error={"message": "oops"})
    upstream.script(status=503, error={"message": "busy"})
    response = await provider.chat(ask("third time lucky"))
    assert response.text == "third time lucky"
    assert len(upstream.requests) == 3


async def test_connection_dropped_then_success(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(drop=True)
    assert (await provider.chat(ask("after a drop"))).text == "after a drop"
    assert len(upstream.requests) == 2


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (400, {"message": "'temperature' must be <= 2", "param": "temperature"}, "bad_request"),
        (401, {"message": "Incorrect API key provided"}, "auth"),
        (403, {"message": "Project does not have access"}, "auth"),
        (404, {"message": "The model `gpt-9` does not exist"}, "not_found"),
        (400, {"message": "too long", "code": "context_length_exceeded"}, "context_window"),
        (400, {"message": "flagged", "code": "content_policy_violation"}, "content_policy"),
    ],
)
async def test_client_errors_are_not_retried(
    provider: OpenAICompatProvider,
    upstream: ScriptedUpstream,
    status: int,
    error: dict[str, str],
    kind: str,
) -> None:
    upstream.script(status=status, error=error)
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ask())
    assert len(upstream.requests) == 1
    assert caught.value.kind == kind
    assert caught.value.upstream_status == status
    assert error["message"] in caught.value.message
    assert should_fall_back(caught.value) is (kind != "content_policy")


async def test_gives_up_after_max_retries(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream, secret: str
) -> None:
    upstream.script(status=503, error={"message": "upstream melted"}, times=None)
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ask(model="gpt-4o"))
    assert len(upstream.requests) == 4
    message = caught.value.message
    for part in ("'openai'", "'gpt-4o'", "HTTP 503", "upstream melted", "after 4 attempts"):
        assert part in message
    assert caught.value.details == {
        "provider": "openai",
        "model": "gpt-4o",
        "kind": "server",
        "upstream_status": 503,
        "attempts": 4,
    }
    assert secret not in message


async def test_timeout_is_retried_then_reported(
    make_provider: MakeProvider, upstream: ScriptedUpstream
) -> None:
    provider = make_provider(
        policy=RetryPolicy(max_retries=1, timeout_s=0.3, backoff_initial_s=0.01)
    )
    upstream.script(latency_ms=1500, times=None)
    started = time.perf_counter()
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ask())
    assert caught.value.kind == "timeout"
    assert caught.value.upstream_status is None
    assert "after 2 attempts" in caught.value.message
    assert "limit 0.3s per attempt" in caught.value.message
    assert len(upstream.requests) == 2
    assert time.perf_counter() - started < 1.5


async def test_slow_answer_within_timeout_succeeds(
    make_provider: MakeProvider, upstream: ScriptedUpstream
) -> None:
    provider = make_provider(policy=RetryPolicy(max_retries=0, timeout_s=2.0))
    upstream.script(reply="slow but fine", latency_ms=200)
    assert (await provider.chat(ask())).text == "slow but fine"


async def test_cost_uses_the_served_snapshot_price(
    make_provider: MakeProvider, upstream: ScriptedUpstream
) -> None:
    prices = PriceTable.builtin()
    prices.set("openai/gpt-4o-2024-05-13", input=5.0, output=15.0)
    provider = make_provider(prices=prices)
    completion = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-2024-05-13",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 0, "total_tokens": 1_000_000},
    }
    upstream.script(body=completion)
    response = await provider.chat(ask(model="gpt-4o"))
    assert response.model == "gpt-4o-2024-05-13"
    assert response.cost_usd == pytest.approx(5.0)
