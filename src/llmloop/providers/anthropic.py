"""Anthropic's Messages API behind the provider interface (``pip install 'llmloop[anthropic]'``).

The registry imports this module only when an ``anthropic/...`` model is asked for.
Translation, both ways:

- ``system`` and ``developer`` messages become the ``system`` parameter; ``tool`` messages
  become ``tool_result`` blocks in a user turn; consecutive turns of one role are merged,
  as the API wants strict alternation; images given as ``image_url`` parts become image
  blocks.
- OpenAI-style ``tools`` and ``tool_choice`` map to Anthropic's; ``stop`` to
  ``stop_sequences``; ``user`` to ``metadata.user_id``; ``max_tokens`` defaults to
  :data:`DEFAULT_MAX_TOKENS` because the API requires it. ``seed`` has no Anthropic
  equivalent and is not sent; ``temperature``, ``top_p`` and ``extra`` are passed as is.
- ``response_format`` ``json_schema``/``json_object`` is served by forcing a tool whose
  input schema is the wanted schema; the answer comes back as JSON text content.
- Stop reasons map to OpenAI finish reasons (``end_turn`` → ``stop``, ``max_tokens`` →
  ``length``, ``tool_use`` → ``tool_calls``, ``refusal`` → ``content_filter``); usage
  counts cache reads and writes as prompt tokens (the breakdown stays in the usage
  extras ``cache_read_input_tokens`` and ``cache_creation_input_tokens``).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anthropic

from llmloop.errors import ValidationError
from llmloop.providers.base import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    FunctionCall,
    Message,
    ModelInfo,
    Provider,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from llmloop.providers.pricing import PriceTable, default_prices
from llmloop.providers.transport import (
    ErrorKind,
    RetryPolicy,
    UpstreamFailure,
    call_with_retries,
    classify,
    classify_status,
    classify_stream_error,
    stream_with_retries,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicProvider",
    "classify_anthropic",
    "from_anthropic_message",
    "to_anthropic_request",
]

DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "json_output"

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def classify_anthropic(exc: BaseException) -> UpstreamFailure | None:
    """Classify the ``anthropic`` SDK's exceptions; anything else as :func:`classify` does."""
    if isinstance(exc, anthropic.APIStatusError):
        return classify_status(exc.status_code, exc.body, exc.response.headers, exc.message)
    if isinstance(exc, anthropic.APITimeoutError):
        return UpstreamFailure(ErrorKind.TIMEOUT, "the request timed out")
    if isinstance(exc, anthropic.APIConnectionError):
        return UpstreamFailure(ErrorKind.CONNECTION, str(exc.__cause__ or exc))
    if isinstance(exc, anthropic.APIError):
        return classify_stream_error(exc.body, exc.message)
    return classify(exc)


# -- request mapping ---------------------------------------------------------------------


def _image_block(part: dict[str, Any]) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url", "") if isinstance(image, dict) else str(image or "")
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header.removeprefix("data:").split(";")[0]
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _content_blocks(content: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        if part.get("type") == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            blocks.append(_image_block(part))
        else:  # already in Anthropic's shape (document, image, ...)
            blocks.append(part)
    return blocks


def _tool_use_block(call: ToolCall, position: int) -> dict[str, Any]:
    try:
        arguments = json.loads(call.function.arguments or "{}")
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"messages[{position}]: tool call {call.id!r} has arguments that are not JSON "
            f"({exc}): {call.function.arguments[:200]!r}; Anthropic needs a JSON object"
        ) from None
    if not isinstance(arguments, dict):
        raise ValidationError(
            f"messages[{position}]: tool call {call.id!r} arguments must be a JSON object, "
            f"got {arguments!r}"
        )
    return {"type": "tool_use", "id": call.id, "name": call.function.name, "input": arguments}


def _turn(message: Message, position: int) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "tool":
        if not message.tool_call_id:
            raise ValidationError(
                f"messages[{position}] is a tool result without tool_call_id; set it to the id "
                "of the assistant's tool call it answers"
            )
        result = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": message.text(),
        }
        return "user", [result]
    if message.role == "assistant":
        blocks = _content_blocks(message.content)
        blocks += [_tool_use_block(call, position) for call in message.tool_calls or []]
        return "assistant", blocks
    return "user", _content_blocks(message.content)


def _messages(messages: list[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        if message.role in ("system", "developer"):
            system.append(message.text())
            continue
        role, blocks = _turn(message, position)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return ("\n\n".join(s for s in system if s) or None), turns


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function" or "function" not in tool:
        return tool  # already Anthropic-shaped (or a server tool)
    function = tool["function"]
    mapped = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        mapped["description"] = function["description"]
    return mapped


def _tool_choice(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            return {"type": "tool", "name": choice["function"]["name"]}
        return choice
    mapping = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
    if choice not in mapping:
        raise ValidationError(
            f"tool_choice={choice!r}: give 'auto', 'required', 'none' or a function"
        )
    return mapping[choice]


def _json_tool(response_format: dict[str, Any]) -> dict[str, Any] | None:
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") or {"type": "object"}
        return {"name": JSON_TOOL, "description": "Answer with this JSON.", "input_schema": schema}
    if kind == "json_object":
        return {
            "name": JSON_TOOL,
            "description": "Answer with a JSON object.",
            "input_schema": {"type": "object"},
        }
    if kind in (None, "text"):
        return None
    raise ValidationError(
        f"response_format type {kind!r}: give 'text', 'json_object' or 'json_schema'"
    )


def to_anthropic_request(request: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for ``client.messages.create`` (without ``stream``)."""
    system, messages = _messages(request.messages)
    kwargs: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
    }
    if system:
        kwargs["system"] = system
    if request.stop:
        kwargs["stop_sequences"] = (
            [request.stop] if isinstance(request.stop, str) else list(request.stop)
        )
    if request.user:
        kwargs["metadata"] = {"user_id": request.user}
    if request.tools:
        kwargs["tools"] = [_tool(t) for t in request.tools]
    if request.tool_choice is not None:
        kwargs["tool_choice"] = _tool_choice(request.tool_choice)
    json_tool = _json_tool(request.response_format) if request.response_format else None
    if json_tool is not None:
        if request.tools:
            raise ValidationError(
                "anthropic models cannot take response_format together with tools; "
                "drop one, or describe the JSON answer as one of the tools"
            )
        kwargs["tools"] = [json_tool]
        kwargs["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
    extra_body = {
        k: v
        for k, v in (("temperature", request.temperature), ("top_p", request.top_p))
        if v is not None
    }
    extra_body.update(request.model_extra or {})
    extra_body.update(request.extra)
    if extra_body:
        kwargs["extra_body"] = extra_body
    return kwargs


# -- response mapping --------------------------------------------------------------------


def _usage(raw: Any) -> Usage:
    cache_read = getattr(raw, "cache_read_input_tokens", None) or 0
    cache_write = getattr(raw, "cache_creation_input_tokens", None) or 0
    prompt = (getattr(raw, "input_tokens", None) or 0) + cache_read + cache_write
    completion = getattr(raw, "output_tokens", None) or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_write,
    )


def _finish(stop_reason: str | None, json_mode: bool) -> str | None:
    if stop_reason == "tool_use" and json_mode:
        return "stop"
    return _FINISH.get(stop_reason, stop_reason) if stop_reason is not None else None


def from_anthropic_message(raw: Any, json_mode: bool = False) -> tuple[Message, str | None, Usage]:
    """(assistant message, finish reason, usage) from an Anthropic ``Message``."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in raw.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use" and json_mode and block.name == JSON_TOOL:
            texts.append(json.dumps(block.input))
        elif block.type == "tool_use":
            calls.append(
                ToolCall(
                    id=block.id,
                    function=FunctionCall(name=block.name, arguments=json.dumps(block.input)),
                )
            )
    message = Message(
        role="assistant", content="".join(texts) if texts else None, tool_calls=calls or None
    )
    return message, _finish(raw.stop_reason, json_mode), _usage(raw.usage)


@dataclass
class _StreamMapper:
    """Turns Anthropic stream events into ChatChunks."""

    model: str
    json_mode: bool
    id: str = ""
    input_usage: Any = None
    tool_index: dict[int, int] = field(default_factory=dict)
    json_blocks: set[int] = field(default_factory=set)

    def feed(self, event: Any) -> ChatChunk | None:
        kind = event.type
        if kind == "message_start":
            self.id, self.model = event.message.id, event.message.model or self.model
            self.input_usage = event.message.usage
            return None
        if kind == "content_block_start":
            return self._block_start(event.index, event.content_block)
        if kind == "content_block_delta":
            return self._delta(event.index, event.delta)
        if kind == "message_delta":
            usage = _usage(event.usage)
            if getattr(event.usage, "input_tokens", None) is None and self.input_usage is not None:
                start = _usage(self.input_usage)  # input counts came with message_start only
                usage = start.model_copy(
                    update={
                        "completion_tokens": usage.completion_tokens,
                        "total_tokens": start.prompt_tokens + usage.completion_tokens,
                    }
                )
            finish = _finish(event.delta.stop_reason, self.json_mode)
            return ChatChunk(id=self.id, model=self.model, finish_reason=finish, usage=usage)
        return None

    def _block_start(self, index: int, block: Any) -> ChatChunk | None:
        if block.type == "tool_use" and self.json_mode and block.name == JSON_TOOL:
            self.json_blocks.add(index)
            return None
        if block.type == "tool_use":
            position = self.tool_index[index] = len(self.tool_index)
            delta = ToolCallDelta(index=position, id=block.id, name=block.name, arguments="")
            return ChatChunk(id=self.id, model=self.model, tool_calls=[delta])
        if block.type == "text" and block.text:
            return ChatChunk(id=self.id, model=self.model, content=block.text)
        return None

    def _delta(self, index: int, delta: Any) -> ChatChunk | None:
        if delta.type == "text_delta":
            return (
                ChatChunk(id=self.id, model=self.model, content=delta.text) if delta.text else None
            )
        if delta.type == "input_json_delta" and index in self.json_blocks:
            return ChatChunk(id=self.id, model=self.model, content=delta.partial_json or None)
        if delta.type == "input_json_delta" and index in self.tool_index:
            arguments = ToolCallDelta(index=self.tool_index[index], arguments=delta.partial_json)
            return ChatChunk(id=self.id, model=self.model, tool_calls=[arguments])
        return None  # thinking and signature deltas are not part of the chat answer


class AnthropicProvider(Provider):
    """Claude models through the official ``anthropic`` SDK (its own retries off)."""

    def __init__(
        self,
        name: str = "anthropic",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        policy: RetryPolicy | None = None,
        prices: PriceTable | None = None,
        http_client: Any = None,
    ) -> None:
        self.name = name
        self.policy = policy or RetryPolicy()
        self.prices = prices
        options: dict[str, Any] = {"timeout": self.policy.timeout_s, "max_retries": 0}
        if http_client is not None:
            options["http_client"] = http_client
        self._client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, **options)

    def __repr__(self) -> str:
        return f"AnthropicProvider(name={self.name!r}, base_url={str(self._client.base_url)!r})"

    def _cost(self, model: str, requested: str, usage: Usage) -> float | None:
        prices = self.prices or default_prices()
        served = prices.cost(f"{self.name}/{model}", usage)
        return served if served is not None else prices.cost(f"{self.name}/{requested}", usage)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        kwargs = to_anthropic_request(request)
        json_mode = kwargs.get("tool_choice", {}).get("name") == JSON_TOOL
        started = time.perf_counter()
        raw = await call_with_retries(
            lambda: self._client.messages.create(**kwargs),
            provider=self.name,
            model=request.model,
            policy=self.policy,
            classify=classify_anthropic,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        message, finish, usage = from_anthropic_message(raw, json_mode)
        model = raw.model or request.model
        return ChatResponse(
            id=raw.id,
            model=model,
            message=message,
            finish_reason=finish,
            usage=usage,
            cost_usd=self._cost(model, request.model, usage),
            latency_ms=latency_ms,
            extra={"stop_reason": raw.stop_reason},
        )

    async def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        kwargs = to_anthropic_request(request)
        mapper = _StreamMapper(
            model=request.model, json_mode=kwargs.get("tool_choice", {}).get("name") == JSON_TOOL
        )
        events = stream_with_retries(
            lambda: self._client.messages.create(stream=True, **kwargs),
            provider=self.name,
            model=request.model,
            policy=self.policy,
            classify=classify_anthropic,
        )
        async for event in events:
            chunk = mapper.feed(event)
            if chunk is None:
                continue
            if chunk.usage is not None:
                chunk.cost_usd = self._cost(chunk.model, request.model, chunk.usage)
            yield chunk

    async def list_models(self) -> list[ModelInfo]:
        async def fetch() -> list[str]:
            return [m.id async for m in self._client.models.list()]

        ids = await call_with_retries(
            fetch, provider=self.name, model="*", policy=self.policy, classify=classify_anthropic
        )
        return [ModelInfo(id=f"{self.name}/{model_id}", provider=self.name) for model_id in ids]

    async def aclose(self) -> None:
        await self._client.close()
