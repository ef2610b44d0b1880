"""The provider interface and the wire-neutral types it speaks.

A provider translates these types to and from one API. Transport concerns (retries,
backoff, timeouts) live once in :mod:`llmloop.providers.transport`; prices in
:mod:`llmloop.providers.pricing`. The field names follow the OpenAI chat format, which
every OpenAI-compatible server and our gateway speak.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmloop.errors import UnknownModelError


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionCall(_Model):
    name: str
    arguments: str = Field(description="JSON-encoded arguments, as the model produced them.")


class ToolCall(_Model):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Model):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text, joining text parts of multi-part content."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")


class ChatRequest(_Model):
    """A chat call. ``model`` is the provider's own model name (no ``provider/`` prefix)."""

    model: str
    messages: list[Message]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="Provider-specific fields.")


class Usage(_Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatResponse(_Model):
    id: str
    model: str
    message: Message
    finish_reason: str | None = "stop"
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    latency_ms: float | None = None
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Extras such as a local classifier's label and probability.",
    )

    @property
    def text(self) -> str:
        return self.message.text()


class ToolCallDelta(_Model):
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None


class ChatChunk(_Model):
    """One streamed piece. The last chunk carries ``finish_reason`` and usage when known."""

    id: str
    model: str
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None


class EmbeddingRequest(_Model):
    model: str
    input: list[str]
    dimensions: int | None = None


class EmbeddingResponse(_Model):
    model: str
    vectors: list[list[float]]
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    latency_ms: float | None = None


class ModelInfo(_Model):
    id: str = Field(description="Full reference, provider/name.")
    provider: str
    kind: Literal["chat", "embedding"] = "chat"
    context_window: int | None = None
    description: str = ""


class Provider(abc.ABC):
    """One backend. Implement :meth:`chat`; streaming and embeddings are optional."""

    name: str = "?"

    @abc.abstractmethod
    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Answer a chat request."""

    async def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream a chat answer. The default yields the whole answer as one chunk."""
        response = await self.chat(request)
        yield ChatChunk(
            id=response.id,
            model=response.model,
            content=response.message.text() or None,
            tool_calls=[
                ToolCallDelta(
                    index=i, id=c.id, name=c.function.name, arguments=c.function.arguments
                )
                for i, c in enumerate(response.message.tool_calls or [])
            ]
            or None,
            finish_reason=response.finish_reason,
            usage=response.usage,
        )

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        raise UnknownModelError(f"provider {self.name!r} does not serve embeddings")

    async def list_models(self) -> list[ModelInfo]:
        return []

    async def aclose(self) -> None:  # noqa: B027  (optional hook, no-op by default)
        """Release connections."""
