"""OpenAI-compatible chat, streaming, embeddings and model lists, on the official SDK.

One provider class serves OpenAI and every server that speaks its API: Azure OpenAI's
``/openai/v1/`` base URL, vLLM, Ollama (``http://localhost:11434/v1``), llama.cpp's
server, TGI. It only translates between :mod:`llmloop.providers.base` types and the SDK's;
retries and timeouts are :mod:`llmloop.providers.transport`'s (the SDK's own retries are
off), prices :mod:`llmloop.providers.pricing`'s.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import openai
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from llmloop.errors import ProviderError
from llmloop.providers.base import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
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
    call_with_retries,
    stream_with_retries,
)

__all__ = ["NO_KEY", "OpenAICompatProvider"]

NO_KEY = "no-key"
"""Sent as the bearer token to servers that need none (vLLM, Ollama, llama.cpp)."""

# Request fields the SDK takes as keyword arguments; everything else goes in extra_body.
_SDK_FIELDS = (
    "temperature", "top_p", "max_tokens", "stop", "seed", "tools", "tool_choice",
    "response_format", "user",
)  # fmt: skip
# OpenAI reasoning models refuse max_tokens and want max_completion_tokens.
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")


class OpenAICompatProvider(Provider):
    """A provider for one OpenAI-compatible endpoint.

    ``name`` is the provider part of model references (``openai``, ``vllm``, ...) and the
    key prefix in the price table. ``api_key`` is the key itself (the registry reads it
    from the environment variable it was told); it is never logged or shown in ``repr``.
    Without a key, :data:`NO_KEY` is sent, never ``OPENAI_API_KEY`` from the environment.
    """

    def __init__(
        self,
        name: str = "openai",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        policy: RetryPolicy | None = None,
        prices: PriceTable | None = None,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, object] | None = None,
        stream_usage: bool = True,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.policy = policy or RetryPolicy()
        self.prices = prices
        self.stream_usage = stream_usage
        self._client = openai.AsyncOpenAI(
            api_key=api_key or NO_KEY,
            base_url=base_url,
            timeout=self.policy.timeout_s,
            max_retries=0,
            default_headers=default_headers,
            default_query=default_query,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatProvider(name={self.name!r}, base_url={str(self._client.base_url)!r})"

    def http_endpoint(self) -> tuple[str, dict[str, str], dict[str, object]]:
        """Base URL, headers (the key's ``authorization`` included) and query parameters
        with which a plain HTTP client calls this endpoint as the SDK would. For the
        gateway's passthrough; the headers hold the key, so never log or return them."""
        client = self._client
        headers = {"authorization": f"Bearer {client.api_key}"}
        headers.update({k.lower(): v for k, v in (client._custom_headers or {}).items()})
        return str(client.base_url).rstrip("/"), headers, dict(client._custom_query or {})

    # -- chat ----------------------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatResponse:
        kwargs = self._chat_kwargs(request)
        started = time.perf_counter()
        completion: ChatCompletion = await call_with_retries(
            lambda: self._client.chat.completions.create(**kwargs),
            provider=self.name,
            model=request.model,
            policy=self.policy,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        return self._to_response(completion, request, latency_ms)

    def _chat_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        dumped = request.model_dump(exclude_none=True, exclude={"model", "messages", "extra"})
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": [m.model_dump(exclude_none=True) for m in request.messages],
        }
        extra_body = {k: v for k, v in dumped.items() if k not in _SDK_FIELDS}
        extra_body.update(request.extra)
        kwargs.update({k: v for k, v in dumped.items() if k in _SDK_FIELDS})
        if (
            "max_tokens" in kwargs
            and _REASONING_MODEL.match(request.model)
            and self.name == "openai"
        ):
            kwargs["max_completion_tokens"] = kwargs.pop("max_tokens")
        if extra_body:
            kwargs["extra_body"] = extra_body
        return kwargs

    def _cost(self, served_model: str, requested_model: str, usage: Usage) -> float | None:
        prices = self.prices or default_prices()
        served = prices.cost(f"{self.name}/{served_model}", usage)
        return (
            served if served is not None else prices.cost(f"{self.name}/{requested_model}", usage)
        )

    def _to_response(
        self, completion: ChatCompletion, request: ChatRequest, latency_ms: float
    ) -> ChatResponse:
        if not completion.choices:
            raise ProviderError(
                f"provider {self.name!r}, model {request.model!r}: the upstream answered "
                "no choices; check that the endpoint really is OpenAI-compatible",
                kind=ErrorKind.SERVER.value,
            )
        choice = completion.choices[0]
        message = _to_message(choice.message)
        model = completion.model or request.model
        usage = _to_usage(completion.usage)
        return ChatResponse(
            id=completion.id,
            model=model,
            message=message,
            finish_reason=choice.finish_reason,
            usage=usage or Usage(),
            cost_usd=self._cost(model, request.model, usage) if usage else None,
            latency_ms=latency_ms,
        )

    # -- streaming -----------------------------------------------------------------------

    async def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream the answer; the last chunk carries ``finish_reason``, usage and cost."""
        kwargs = self._chat_kwargs(request)
        kwargs["stream"] = True
        if self.stream_usage:
            kwargs["stream_options"] = {"include_usage": True}
        chunks = stream_with_retries(
            lambda: self._client.chat.completions.create(**kwargs),
            provider=self.name,
            model=request.model,
            policy=self.policy,
        )
        held: ChatChunk | None = None  # the finish chunk, waiting for a usage-only chunk
        async for raw in chunks:
            chunk = self._to_chunk(raw, request)
            if chunk is None:
                continue
            if held is not None and _usage_only(chunk):
                chunk = held.model_copy(update={"usage": chunk.usage, "cost_usd": chunk.cost_usd})
                held = None
            elif held is not None:
                yield held
                held = None
            if chunk.finish_reason is not None and chunk.usage is None:
                held = chunk
                continue
            yield chunk
        if held is not None:
            yield held

    def _to_chunk(self, raw: ChatCompletionChunk, request: ChatRequest) -> ChatChunk | None:
        model = raw.model or request.model
        usage = _to_usage(raw.usage)
        cost = self._cost(model, request.model, usage) if usage else None
        if not raw.choices:
            return ChatChunk(id=raw.id, model=model, usage=usage, cost_usd=cost) if usage else None
        choice = raw.choices[0]
        delta = choice.delta
        tool_calls = [
            ToolCallDelta(
                index=call.index,
                id=call.id,
                name=call.function.name if call.function else None,
                arguments=call.function.arguments if call.function else None,
            )
            for call in delta.tool_calls or []
        ]
        content = delta.content or None
        if content is None and not tool_calls and choice.finish_reason is None and usage is None:
            return None
        return ChatChunk(
            id=raw.id,
            model=model,
            content=content,
            tool_calls=tool_calls or None,
            finish_reason=choice.finish_reason,
            usage=usage,
            cost_usd=cost,
        )

    # -- embeddings and models -----------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        if not request.input:
            return EmbeddingResponse(model=request.model, vectors=[], cost_usd=0.0, latency_ms=0.0)
        kwargs: dict[str, Any] = {
            "model": request.model,
            "input": request.input,
            "encoding_format": "float",
        }
        if request.dimensions is not None:
            kwargs["dimensions"] = request.dimensions
        if request.model_extra:
            kwargs["extra_body"] = dict(request.model_extra)
        started = time.perf_counter()
        result: CreateEmbeddingResponse = await call_with_retries(
            lambda: self._client.embeddings.create(**kwargs),
            provider=self.name,
            model=request.model,
            policy=self.policy,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        vectors = [list(d.embedding) for d in sorted(result.data, key=lambda d: d.index)]
        usage = Usage(
            prompt_tokens=result.usage.prompt_tokens, total_tokens=result.usage.total_tokens
        )
        model = result.model or request.model
        return EmbeddingResponse(
            model=model,
            vectors=vectors,
            usage=usage,
            cost_usd=self._cost(model, request.model, usage),
            latency_ms=latency_ms,
        )

    async def list_models(self) -> list[ModelInfo]:
        async def fetch() -> list[str]:
            return [m.id async for m in self._client.models.list()]

        ids = await call_with_retries(fetch, provider=self.name, model="*", policy=self.policy)
        return [
            ModelInfo(
                id=f"{self.name}/{model_id}",
                provider=self.name,
                kind="embedding" if "embed" in model_id else "chat",
            )
            for model_id in ids
        ]

    async def aclose(self) -> None:
        await self._client.close()


def _to_usage(raw: Any) -> Usage | None:
    if raw is None:
        return None
    prompt = raw.prompt_tokens or 0
    completion = raw.completion_tokens or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=raw.total_tokens or prompt + completion,
    )


def _usage_only(chunk: ChatChunk) -> bool:
    return (
        chunk.usage is not None
        and chunk.content is None
        and not chunk.tool_calls
        and chunk.finish_reason is None
    )


def _to_message(raw: Any) -> Message:
    tool_calls: list[ToolCall] = []
    others: list[dict[str, Any]] = []
    for call in raw.tool_calls or []:
        function = getattr(call, "function", None)
        if function is None:  # a custom (non-function) tool call: kept as the upstream sent it
            others.append(call.model_dump())
            continue
        tool_calls.append(
            ToolCall(
                id=call.id, function=FunctionCall(name=function.name, arguments=function.arguments)
            )
        )
    extras: dict[str, Any] = {}
    if getattr(raw, "refusal", None):
        extras["refusal"] = raw.refusal
    if others:
        extras["other_tool_calls"] = others
    return Message(role="assistant", content=raw.content, tool_calls=tool_calls or None, **extras)
