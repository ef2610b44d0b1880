"""The Anthropic provider: mapping functions, and the real SDK against a scripted
Anthropic-shaped endpoint (an httpx2 MockTransport: the SDK's own transport seam)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest
from anthropic.types import Message as AnthropicMessage

from llmloop.errors import ProviderError, ValidationError
from llmloop.providers.anthropic import (
    DEFAULT_MAX_TOKENS,
    AnthropicProvider,
    from_anthropic_message,
    to_anthropic_request,
)
from llmloop.providers.base import ChatRequest, FunctionCall, Message, ToolCall
from llmloop.providers.pricing import PriceTable
from llmloop.providers.transport import RetryPolicy

MODEL = "claude-3-5-haiku-20241022"
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def request(*messages: Message, **params: Any) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=list(messages), **params)


def anthropic_message(
    content: list[dict[str, Any]], stop_reason: str = "end_turn", **usage: int
) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
    }


# -- request mapping ---------------------------------------------------------------------


def test_system_messages_become_the_system_parameter() -> None:
    kwargs = to_anthropic_request(
        request(
            Message(role="system", content="Be brief."),
            Message(role="developer", content="Answer in French."),
            Message(role="user", content="Hi"),
        )
    )
    assert kwargs["system"] == "Be brief.\n\nAnswer in French."
    assert kwargs["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert kwargs["max_tokens"] == DEFAULT_MAX_TOKENS
    assert kwargs["model"] == MODEL


def test_tool_calls_and_results_map_and_turns_merge() -> None:
    call_a = ToolCall(
        id="toolu_a", function=FunctionCall(name="get_weather", arguments='{"city": "Oslo"}')
    )
    call_b = ToolCall(
        id="toolu_b", function=FunctionCall(name="get_weather", arguments='{"city": "Rome"}')
    )
    kwargs = to_anthropic_request(
        request(
            Message(role="user", content="Weather in Oslo and Rome?"),
            Message(role="assistant", content="Checking.", tool_calls=[call_a, call_b]),
            Message(role="tool", tool_call_id="toolu_a", content="-3C"),
            Message(role="tool", tool_call_id="toolu_b", content="18C"),
            Message(role="user", content="Thanks!"),
        )
    )
    assert kwargs["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Oslo and Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_b",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "-3C"},
                {"type": "tool_result", "tool_use_id": "toolu_b", "content": "18C"},
                {"type": "text", "text": "Thanks!"},
            ],
        },
    ]


def test_tools_choice_stop_user_and_sampling_parameters() -> None:
    kwargs = to_anthropic_request(
        request(
            Message(role="user", content="hi"),
            tools=[TOOL],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            stop="END",
            user="user-7",
            temperature=0.3,
            top_p=0.8,
            seed=1,
            max_tokens=100,
            extra={"top_k": 5},
        )
    )
    assert kwargs["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert kwargs["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert kwargs["stop_sequences"] == ["END"]
    assert kwargs["metadata"] == {"user_id": "user-7"}
    assert kwargs["max_tokens"] == 100
    assert kwargs["extra_body"] == {"temperature": 0.3, "top_p": 0.8, "top_k": 5}
    assert "seed" not in kwargs and "seed" not in kwargs["extra_body"]


@pytest.mark.parametrize(
    ("choice", "mapped"),
    [("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"})],
)
def test_tool_choice_strings(choice: str, mapped: dict[str, str]) -> None:
    kwargs = to_anthropic_request(
        request(Message(role="user", content="hi"), tools=[TOOL], tool_choice=choice)
    )
    assert kwargs["tool_choice"] == mapped


def test_images_become_image_blocks() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    kwargs = to_anthropic_request(request(Message(role="user", content=content)))
    assert kwargs["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_json_schema_response_format_forces_a_tool() -> None:
    schema = {
        "type": "object",
        "properties": {"intent": {"type": "string"}},
        "required": ["intent"],
    }
    kwargs = to_anthropic_request(
        request(
            Message(role="user", content="classify"),
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "triage", "schema": schema},
            },
        )
    )
    assert kwargs["tools"] == [
        {"name": "json_output", "description": "Answer with this JSON.", "input_schema": schema}
    ]
    assert kwargs["tool_choice"] == {"type": "tool", "name": "json_output"}


@pytest.mark.parametrize(
    ("messages", "params", "error"),
    [
        ([Message(role="tool", content="x")], {}, "without tool_call_id"),
        (
            [
                Message(
                    role="assistant",
                    tool_calls=[
                        ToolCall(id="t1", function=FunctionCall(name="f", arguments="{oops"))
                    ],
                )
            ],
            {},
            r"messages\[0\]: tool call 't1' has arguments that are not JSON",
        ),
        (
            [
                Message(
                    role="assistant",
                    tool_calls=[
                        ToolCall(id="t1", function=FunctionCall(name="f", arguments="[1]"))
                    ],
                )
            ],
            {},
            "must be a JSON object",
        ),
        (
            [Message(role="user", content="x")],
            {"tool_choice": "sometimes"},
            "tool_choice='sometimes'",
        ),
        ([Message(role="user", content="x")], {"response_format": {"type": "yaml"}}, "'yaml'"),
        (
            [Message(role="user", content="x")],
            {"tools": [TOOL], "response_format": {"type": "json_object"}},
            "response_format together with tools",
        ),
    ],
)
def test_unmappable_requests_say_what_to_change(
    messages: list[Message], params: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        to_anthropic_request(request(*messages, **params))


# -- response mapping --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(stop_reason: str, finish: str) -> None:
    raw = AnthropicMessage.model_validate(
        anthropic_message([{"type": "text", "text": "x"}], stop_reason)
    )
    assert from_anthropic_message(raw)[1] == finish


def test_text_tool_use_and_usage_with_cache_tokens() -> None:
    raw = AnthropicMessage.model_validate(
        anthropic_message(
            [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                },
            ],
            "tool_use",
            cache_read_input_tokens=100,
            cache_creation_input_tokens=20,
        )
    )
    message, finish, usage = from_anthropic_message(raw)
    assert message.content == "Let me check."
    assert message.tool_calls == [
        ToolCall(
            id="toolu_1", function=FunctionCall(name="get_weather", arguments='{"city": "Oslo"}')
        )
    ]
    assert finish == "tool_calls"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (130, 5, 135)
    assert usage.cache_read_input_tokens == 100  # type: ignore[attr-defined]


def test_forced_json_tool_comes_back_as_text() -> None:
    raw = AnthropicMessage.model_validate(
        anthropic_message(
            [{"type": "tool_use", "id": "t", "name": "json_output", "input": {"intent": "refund"}}],
            "tool_use",
        )
    )
    message, finish, _ = from_anthropic_message(raw, json_mode=True)
    assert json.loads(message.text()) == {"intent": "refund"}
    assert message.tool_calls is None
    assert finish == "stop"


# -- the real SDK against a scripted endpoint --------------------------------------------

Handler = Callable[[httpx2.Request], httpx2.Response]


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


@pytest.fixture
async def scripted() -> AsyncIterator[
    Callable[..., tuple[AnthropicProvider, list[httpx2.Request]]]
]:
    clients: list[AnthropicProvider] = []

    def make(
        *responses: httpx2.Response, policy: RetryPolicy | None = None
    ) -> tuple[AnthropicProvider, list]:
        queue = list(responses)
        seen: list[httpx2.Request] = []

        def handler(req: httpx2.Request) -> httpx2.Response:
            seen.append(req)
            return queue.pop(0)

        provider = AnthropicProvider(
            api_key="sk-ant-test",
            base_url="http://anthropic.test",
            policy=policy or RetryPolicy(max_retries=2, timeout_s=5, backoff_initial_s=0.01),
            prices=PriceTable.builtin(),
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
        )
        clients.append(provider)
        return provider, seen

    yield make
    for provider in clients:
        await provider.aclose()


async def test_chat_through_the_sdk(scripted: Callable[..., Any]) -> None:
    body = anthropic_message(
        [{"type": "text", "text": "Bonjour"}], input_tokens=1_000_000, output_tokens=0
    )
    provider, seen = scripted(httpx2.Response(200, json=body))
    response = await provider.chat(
        request(Message(role="system", content="French"), Message(role="user", content="Hi"))
    )
    assert response.text == "Bonjour"
    assert response.finish_reason == "stop"
    assert response.model == MODEL
    assert response.cost_usd == pytest.approx(0.80)
    assert response.latency_ms is not None
    (sent,) = seen
    assert sent.url.path == "/v1/messages"
    # older SDKs send x-api-key, newer ones a bearer token
    assert "sk-ant-test" in (
        sent.headers.get("x-api-key", "") + sent.headers.get("authorization", "")
    )
    payload = json.loads(sent.content)
    assert payload["system"] == "French" and payload["max_tokens"] == DEFAULT_MAX_TOKENS


async def test_overloaded_529_is_retried(scripted: Callable[..., Any]) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    provider, seen = scripted(
        httpx2.Response(529, json=overloaded),
        httpx2.Response(200, json=anthropic_message([{"type": "text", "text": "ok"}])),
    )
    assert (await provider.chat(request(Message(role="user", content="hi")))).text == "ok"
    assert len(seen) == 2


async def test_prompt_too_long_is_a_context_window_error(scripted: Callable[..., Any]) -> None:
    too_long = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 210000 tokens > 200000 maximum",
        },
    }
    provider, seen = scripted(httpx2.Response(400, json=too_long))
    with pytest.raises(ProviderError) as caught:
        await provider.chat(request(Message(role="user", content="hi")))
    assert caught.value.kind == "context_window"
    assert "prompt is too long" in caught.value.message
    assert "sk-ant-test" not in caught.value.message
    assert len(seen) == 1


async def test_streaming_text_and_tool_use_through_the_sdk(scripted: Callable[..., Any]) -> None:
    start = anthropic_message([], None, input_tokens=12, output_tokens=1)  # type: ignore[arg-type]
    stream = sse(
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Checking "},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "now."},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_9",
                "name": "get_weather",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"ci'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": 'ty": "Oslo"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 30},
        },
        {"type": "message_stop"},
    )
    provider, _ = scripted(
        httpx2.Response(200, content=stream, headers={"content-type": "text/event-stream"})
    )
    chunks = [
        c
        async for c in provider.chat_stream(
            request(Message(role="user", content="weather?"), tools=[TOOL])
        )
    ]
    assert "".join(c.content or "" for c in chunks) == "Checking now."
    deltas = [d for c in chunks for d in c.tool_calls or []]
    assert deltas[0].id == "toolu_9" and deltas[0].name == "get_weather" and deltas[0].index == 0
    assert json.loads("".join(d.arguments or "" for d in deltas)) == {"city": "Oslo"}
    last = chunks[-1]
    assert last.finish_reason == "tool_calls"
    assert last.usage is not None and (last.usage.prompt_tokens, last.usage.completion_tokens) == (
        12,
        30,
    )
    assert last.cost_usd == pytest.approx((12 * 0.80 + 30 * 4.00) / 1e6)
    assert all(c.id == "msg_1" for c in chunks)
