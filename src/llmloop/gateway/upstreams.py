"""Upstreams the gateway calls: one attempt of a chat or embedding request.

Two kinds behind one small interface:

* :class:`HttpUpstream` for OpenAI-compatible providers (``openai/...`` and every
  ``register_endpoint``): the request JSON is forwarded with the upstream's model name
  over :mod:`llmloop.gateway.wire`, and the answer is returned as received (bytes), so
  nothing is converted on the hot path. Retries are the gateway's.
* :class:`ProviderUpstream` for any other :class:`~llmloop.providers.base.Provider`
  (``anthropic/...``, ``local/...``, registered ones): the request goes through the
  provider's own translation and retries, and the answer is rendered in the OpenAI shape.

A failure raises :class:`UpstreamError` carrying the classified
:class:`~llmloop.providers.transport.UpstreamFailure`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from llmloop.errors import ProviderError
from llmloop.gateway.wire import HttpPool, Origin, UpstreamClosed, WireResponse
from llmloop.providers.base import ChatChunk, ChatResponse, EmbeddingRequest, Provider, Usage
from llmloop.providers.openai_compat import OpenAICompatProvider
from llmloop.providers.registry import ModelRef, ProviderRegistry, chat_request
from llmloop.providers.transport import ErrorKind, UpstreamFailure, classify_status

__all__ = ["HttpUpstream", "ProviderUpstream", "Upstream", "UpstreamError", "Upstreams"]

DONE = b"[DONE]"
# request fields that are ours or the SDK's, not ChatRequest parameters of a provider
_NOT_PARAMS = frozenset({"model", "messages", "stream", "stream_options", "variables"})


class UpstreamError(Exception):
    def __init__(self, failure: UpstreamFailure, *, retried_inside: bool = False) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.retried_inside = retried_inside  # the provider already retried


def _failure_of(exc: BaseException) -> UpstreamFailure:
    if isinstance(exc, TimeoutError):
        return UpstreamFailure(ErrorKind.TIMEOUT, "no answer within the request timeout")
    if isinstance(exc, UpstreamClosed | OSError):
        return UpstreamFailure(ErrorKind.CONNECTION, f"{type(exc).__name__}: {exc}")
    raise exc


@dataclass(frozen=True, slots=True)
class Upstream:
    ref: str  # provider/name
    provider: str
    model: str  # the name the provider knows
    retries_inside: bool

    async def complete(self, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        raise NotImplementedError

    def stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        """SSE ``data`` payloads (JSON bytes, then ``[DONE]``)."""
        raise NotImplementedError

    async def embed(self, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class HttpUpstream(Upstream):
    pool: HttpPool
    origin: Origin
    headers: dict[str, str]
    query: str
    stream_usage: bool

    def _path(self, route: str) -> str:
        return f"{self.origin.prefix}{route}{self.query}"

    async def _post(self, route: str, body: dict[str, Any], stream: bool) -> WireResponse:
        payload = orjson.dumps({**body, "model": self.model})
        try:
            response = await self.pool.request(
                self.origin, "POST", self._path(route), self.headers, payload, stream=stream
            )
        except (UpstreamClosed, OSError, TimeoutError) as exc:
            raise UpstreamError(_failure_of(exc)) from exc
        if response.status >= 400:
            if stream:
                response.body = b"".join([p async for p in response.iter_body()])
            raise UpstreamError(_classify(response))
        return response

    async def complete(self, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        response = await self._post("/chat/completions", body, False)
        return response.body, _json(response.body)

    async def embed(self, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        response = await self._post("/embeddings", body, False)
        return response.body, _json(response.body)

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        if not self.stream_usage:
            body = {k: v for k, v in body.items() if k != "stream_options"}
        response = await self._post("/chat/completions", body, True)
        buffer = b""
        try:
            async for piece in response.iter_body():
                buffer += piece
                if b"\n\n" not in buffer:
                    continue
                *events, buffer = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
                for event in events:
                    for line in event.split(b"\n"):
                        if line.startswith(b"data:"):
                            yield line[5:].strip()
        except (UpstreamClosed, OSError) as exc:
            raise UpstreamError(_failure_of(exc)) from exc
        for line in buffer.split(b"\n"):
            if line.startswith(b"data:"):
                yield line[5:].strip()


def _classify(response: WireResponse) -> UpstreamFailure:
    try:
        body: Any = orjson.loads(response.body) if response.body else None
    except orjson.JSONDecodeError:
        body = response.body.decode("utf-8", "replace")
    return classify_status(response.status, body, response.headers)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        message = "the upstream answered something that is not a JSON object"
        raise UpstreamError(UpstreamFailure(ErrorKind.SERVER, message, 200))
    return parsed


@dataclass(frozen=True, slots=True)
class ProviderUpstream(Upstream):
    impl: Provider

    def _request(self, body: dict[str, Any]) -> Any:
        params = {k: v for k, v in body.items() if k not in _NOT_PARAMS}
        return chat_request(self.model, body.get("messages") or [], params)

    async def complete(self, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        try:
            answer = await self.impl.chat(self._request(body))
        except ProviderError as exc:
            raise UpstreamError(_provider_failure(exc), retried_inside=True) from exc
        parsed = completion_json(answer)
        return orjson.dumps(parsed), parsed

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        created = int(time.time())
        try:
            async for chunk in self.impl.chat_stream(self._request(body)):
                for payload in chunk_json(chunk, created, include_usage):
                    yield orjson.dumps(payload)
        except ProviderError as exc:
            raise UpstreamError(_provider_failure(exc), retried_inside=True) from exc
        yield DONE

    async def embed(self, body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else list(raw or [])
        params = {"dimensions": body["dimensions"]} if body.get("dimensions") else {}
        try:
            from_provider = await self.impl.embed(
                EmbeddingRequest(model=self.model, input=texts, **params)
            )
        except ProviderError as exc:
            raise UpstreamError(_provider_failure(exc), retried_inside=True) from exc
        data = [
            {"object": "embedding", "index": i, "embedding": v}
            for i, v in enumerate(from_provider.vectors)
        ]
        usage = from_provider.usage
        parsed = {
            "object": "list",
            "model": from_provider.model,
            "data": data,
            "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.total_tokens},
        }
        return orjson.dumps(parsed), parsed


def _provider_failure(exc: ProviderError) -> UpstreamFailure:
    known = {k.value for k in ErrorKind}
    kind = ErrorKind(exc.kind) if exc.kind in known else ErrorKind.SERVER
    return UpstreamFailure(kind, exc.message, exc.upstream_status, retryable=False)


def _usage_json(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
    }


def completion_json(answer: ChatResponse) -> dict[str, Any]:
    message = answer.message.model_dump(exclude_none=True)
    message.setdefault("content", None)
    return {
        "id": answer.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model,
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
        "usage": _usage_json(answer.usage),
    }


def chunk_json(chunk: ChatChunk, created: int, include_usage: bool) -> list[dict[str, Any]]:
    delta: dict[str, Any] = {}
    if chunk.content is not None:
        delta["content"] = chunk.content
    if chunk.tool_calls:
        delta["tool_calls"] = [
            {
                "index": c.index,
                **({"id": c.id, "type": "function"} if c.id else {}),
                "function": {
                    k: v for k, v in (("name", c.name), ("arguments", c.arguments)) if v is not None
                },
            }
            for c in chunk.tool_calls
        ]
    base = {"id": chunk.id, "object": "chat.completion.chunk", "created": created}
    out = []
    if delta or chunk.finish_reason is not None:
        choice = {"index": 0, "delta": delta, "finish_reason": chunk.finish_reason}
        out.append({**base, "model": chunk.model, "choices": [choice]})
    if chunk.usage is not None and include_usage:
        out.append({**base, "model": chunk.model, "choices": [], "usage": _usage_json(chunk.usage)})
    return out


class Upstreams:
    """Model references to upstreams, resolved through the provider registry."""

    def __init__(self, registry: ProviderRegistry, pool: HttpPool) -> None:
        self.registry = registry
        self.pool = pool
        self._known: dict[tuple[str, int], Upstream] = {}
        self._refs: dict[str, ModelRef] = {}

    def get(self, ref: str) -> Upstream:
        """The upstream for ``provider/name`` (a bare name means ``openai/<name>``)."""
        parsed = self._refs.get(ref)
        if parsed is None:
            parsed = ModelRef.parse(ref if "/" in ref else f"openai/{ref}")
            if len(self._refs) >= 10_000:
                self._refs.clear()
            self._refs[ref] = parsed
        provider = self.registry.provider(parsed.provider)
        key = (str(parsed), id(provider))
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = self._build(parsed, provider)
        return found

    def _build(self, ref: ModelRef, provider: Provider) -> Upstream:
        if isinstance(provider, OpenAICompatProvider):
            base_url, headers, query = provider.http_endpoint()
            headers = {**headers, "content-type": "application/json"}
            return HttpUpstream(
                str(ref),
                ref.provider,
                ref.name,
                False,
                self.pool,
                Origin.parse(base_url),
                headers,
                f"?{urlencode(query)}" if query else "",
                provider.stream_usage,
            )
        return ProviderUpstream(str(ref), ref.provider, ref.name, True, provider)
