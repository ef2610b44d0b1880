"""Traces of the official ``openai`` client, under the OpenTelemetry GenAI conventions.

:func:`instrument_openai` wraps the SDK's resource methods (``chat.completions.create``
and ``embeddings.create``, sync and async) — for every client, or for one client when
you pass it. Each call becomes a ``CLIENT`` span named ``"{operation} {model}"`` with
``gen_ai.provider.name``/``gen_ai.system`` = ``openai``, the request parameters
(``gen_ai.request.*``), the response (``gen_ai.response.model``/``id``/``finish_reasons``),
usage (``gen_ai.usage.input_tokens``/``output_tokens``), and the messages and tool calls
as ``gen_ai.input.messages``/``gen_ai.output.messages`` (the conventions' role + parts
shape), passed through the capture settings' redaction hook and size limit. A failed
call records ``error.type`` and the exception, and is raised unchanged.

A streamed completion (``stream=True``) returns the SDK's stream wrapped: the span ends
when the stream is consumed, closed or fails, with the content, tool calls and usage
(when the upstream sends it, e.g. ``stream_options={"include_usage": True}``) gathered
from the chunks. Nothing the instrumentation does can break the call: a failure while
describing it is noted on the span as ``llmloop.instrumentation_error``.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from openai import APIStatusError, AsyncOpenAI, AsyncStream, Stream
from openai.resources.chat.completions.completions import AsyncCompletions, Completions
from openai.resources.embeddings import AsyncEmbeddings, Embeddings
from opentelemetry.trace import Span as OtelSpan
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmloop.tracing.observe import encode
from llmloop.tracing.setup import capture_settings, tracer

PROVIDER = "openai"
_MARK = "__llmloop_traced__"
# (resource class, operation) wrapped by instrument_openai(); the method is ``create``
_CLASSES: tuple[tuple[type[Any], str, bool], ...] = (
    (Completions, "chat", False),
    (AsyncCompletions, "chat", True),
    (Embeddings, "embeddings", False),
    (AsyncEmbeddings, "embeddings", True),
)
_REQUEST_NUMBERS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "dimensions": "gen_ai.embeddings.dimension.count",
}


# ---------------------------------------------------------------------- public API


def instrument_openai(client: Any = None) -> None:
    """Trace calls of the ``openai`` SDK: every client, or only ``client`` when given.

    ``client`` is an ``openai.OpenAI``/``AsyncOpenAI`` (or Azure) instance. Calling this
    twice does not trace a call twice. Spans go where :func:`llmloop.tracing.configure`
    sends them (the local store, a server, or your exporter).
    """
    if client is None:
        for cls, operation, is_async in _CLASSES:
            original = cls.__dict__["create"]
            if not getattr(original, _MARK, False):
                cls.create = _traced(original, operation, is_async)
        return
    is_async = isinstance(client, AsyncOpenAI)
    resources = ((client.chat.completions, "chat"), (client.embeddings, "embeddings"))
    for resource, operation in resources:
        bound = resource.create
        if getattr(bound, _MARK, False) or getattr(type(resource).create, _MARK, False):
            continue
        original = bound.__func__ if hasattr(bound, "__func__") else bound
        traced = _traced(original, operation, is_async)
        resource.create = functools.partial(traced, resource)
        setattr(resource.create, _MARK, True)


def uninstrument_openai(client: Any = None) -> None:
    """Undo :func:`instrument_openai` (for every client, or for ``client``)."""
    if client is None:
        for cls, _, _ in _CLASSES:
            current = cls.__dict__["create"]
            if getattr(current, _MARK, False):
                cls.create = current.__wrapped__
        return
    for resource in (client.chat.completions, client.embeddings):
        if getattr(resource.__dict__.get("create"), _MARK, False):
            del resource.create


def _traced(original: Callable[..., Any], operation: str, is_async: bool) -> Callable[..., Any]:
    """``original`` (the SDK's ``create``) in a span; ``is_async``: it returns an awaitable
    (the SDK's argument-checking decorator hides that from ``inspect``)."""
    if is_async:

        async def traced_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = _Call.start(operation, self, kwargs)
            try:
                result = await original(self, *args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            if isinstance(result, AsyncStream):
                return TracedAsyncStream(result, call)
            call.finish(result)
            return result

        wrapper: Any = traced_async
    else:

        def traced_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = _Call.start(operation, self, kwargs)
            try:
                result = original(self, *args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            if isinstance(result, Stream):
                return TracedStream(result, call)
            call.finish(result)
            return result

        wrapper = traced_sync
    functools.update_wrapper(wrapper, original)
    setattr(wrapper, _MARK, True)
    return wrapper


# ---------------------------------------------------------------------- one call


class _Call:
    """The span of one SDK call, from the request's keywords to the response."""

    def __init__(self, span: OtelSpan | None, operation: str) -> None:
        self.span = span
        self.operation = operation
        self.ended = False

    @classmethod
    def start(cls, operation: str, resource: Any, kwargs: dict[str, Any]) -> _Call:
        try:
            model = kwargs.get("model")
            name = f"{operation} {model}" if model else operation
            span = tracer().start_span(name, kind=SpanKind.CLIENT)
        except Exception:  # tracing itself is broken: the call goes ahead untraced
            return cls(None, operation)
        call = cls(span, operation)
        call._guard(call._request, resource, kwargs)
        return call

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        if self.span is None:
            return
        try:
            fn(*args)
        except Exception as exc:  # describing the call must never break it
            self.span.set_attribute("llmloop.instrumentation_error", f"{type(exc).__name__}: {exc}")

    def _set(self, key: str, value: Any) -> None:
        if value is not None and self.span is not None:
            self.span.set_attribute(key, value)

    def _request(self, resource: Any, kw: dict[str, Any]) -> None:
        self._set("gen_ai.operation.name", self.operation)
        self._set("gen_ai.provider.name", PROVIDER)
        self._set("gen_ai.system", PROVIDER)
        self._set("gen_ai.request.model", _text(kw.get("model")))
        for key, attribute in _REQUEST_NUMBERS.items():
            value = kw.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._set(attribute, value)
        stop = kw.get("stop")
        if stop:
            self._set("gen_ai.request.stop_sequences", [stop] if isinstance(stop, str) else stop)
        if isinstance(kw.get("n"), int) and kw["n"] != 1:
            self._set("gen_ai.request.choice.count", kw["n"])
        if isinstance(kw.get("encoding_format"), str):
            self._set("gen_ai.request.encoding_formats", [kw["encoding_format"]])
        self._server(resource)
        if not capture_settings().inputs:
            return
        if self.operation == "chat":
            self._capture("gen_ai.input.messages", input_messages(kw.get("messages") or []))
            if kw.get("tools"):
                self._capture("gen_ai.tool.definitions", kw["tools"])
        else:
            self._capture("llmloop.inputs", {"input": kw.get("input")})

    def _server(self, resource: Any) -> None:
        url = getattr(getattr(resource, "_client", None), "base_url", None)
        host = getattr(url, "host", None)
        if host:
            self._set("server.address", str(host))
            port = getattr(url, "port", None)
            if port:
                self._set("server.port", int(port))

    def _capture(self, key: str, value: Any) -> None:
        try:
            text, cut = encode(value)
        except Exception as exc:  # the redaction hook failed: capture nothing
            self._set(f"{key}_error", f"{type(exc).__name__}: {exc}")
            return
        self._set(key, text)
        if cut:
            self._set("llmloop.truncated", True)

    def finish(self, result: Any) -> None:
        if self.operation == "chat":
            self._guard(self._completion, result)
        else:
            self._guard(self._embeddings, result)
        self.end()

    def _completion(self, result: Any) -> None:
        choices = getattr(result, "choices", None)
        if choices is None:  # e.g. with_raw_response: the body is not parsed here
            return
        self._response(getattr(result, "id", None), getattr(result, "model", None))
        self._set("openai.response.system_fingerprint", getattr(result, "system_fingerprint", None))
        self._set("openai.response.service_tier", _text(getattr(result, "service_tier", None)))
        out = [_choice_message(c.message, c.finish_reason) for c in choices]
        self._set("gen_ai.response.finish_reasons", [m["finish_reason"] or "" for m in out])
        self._usage(getattr(result, "usage", None))
        if capture_settings().outputs:
            self._capture("gen_ai.output.messages", out)

    def _embeddings(self, result: Any) -> None:
        data = getattr(result, "data", None)
        if data is None:
            return
        self._set("gen_ai.response.model", _text(getattr(result, "model", None)))
        self._usage(getattr(result, "usage", None))
        first = data[0].embedding if data else None
        if isinstance(first, list):
            self._set("gen_ai.embeddings.dimension.count", len(first))
        if capture_settings().outputs:
            dims = len(first) if isinstance(first, list) else None
            self._capture("llmloop.outputs", {"embeddings": len(data), "dimensions": dims})

    def _response(self, response_id: Any, model: Any) -> None:
        self._set("gen_ai.response.id", _text(response_id))
        self._set("gen_ai.response.model", _text(model))

    def _usage(self, usage: Any) -> None:
        if usage is None:
            return
        self._set("gen_ai.usage.input_tokens", getattr(usage, "prompt_tokens", None))
        self._set("gen_ai.usage.output_tokens", getattr(usage, "completion_tokens", None))

    def fail(self, exc: BaseException) -> None:
        if self.span is not None and not self.ended:
            self._guard(self._error, exc)
        self.end()

    def _error(self, exc: BaseException) -> None:
        assert self.span is not None
        self._set("error.type", type(exc).__name__)
        if isinstance(exc, APIStatusError):
            self._set("http.response.status_code", exc.status_code)
        self.span.record_exception(exc)
        self.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))

    def end(self) -> None:
        if self.span is not None and not self.ended:
            self.ended = True
            self.span.end()


# ---------------------------------------------------------------------- messages


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(getattr(value, "value", value))


def _plain(value: Any) -> Any:
    """SDK objects (pydantic models) as plain data; dicts and strings as they are."""
    dump = getattr(value, "model_dump", None)
    return dump(exclude_none=True) if callable(dump) else value


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for item in content if isinstance(content, list) else [content]:
        item = _plain(item)
        if isinstance(item, dict) and item.get("type") == "text":
            parts.append({"type": "text", "content": item.get("text")})
        else:
            parts.append(item if isinstance(item, dict) else {"type": "text", "content": item})
    return parts


def _tool_call_part(call: Any) -> dict[str, Any]:
    call = _plain(call)
    function = call.get("function") or {}
    arguments = function.get("arguments")
    with contextlib.suppress(ValueError):
        arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
    return {"type": "tool_call", "id": call.get("id"), "name": function.get("name"),
            "arguments": arguments}  # fmt: skip


def input_messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """Chat messages in the GenAI conventions' shape: ``{"role", "parts": [...]}``."""
    out: list[dict[str, Any]] = []
    for message in messages:
        message = _plain(message)
        if not isinstance(message, dict):
            out.append({"role": "user", "parts": _content_parts(message)})
            continue
        role = message.get("role", "user")
        if role == "tool":
            parts = [{"type": "tool_call_response", "id": message.get("tool_call_id"),
                      "response": message.get("content")}]  # fmt: skip
        else:
            parts = _content_parts(message.get("content"))
            parts += [_tool_call_part(c) for c in message.get("tool_calls") or []]
        out.append({"role": role, "parts": parts})
    return out


def _choice_message(message: Any, finish_reason: Any) -> dict[str, Any]:
    message = _plain(message) or {}
    parts = _content_parts(message.get("content"))
    parts += [_tool_call_part(c) for c in message.get("tool_calls") or []]
    return {"role": message.get("role") or "assistant", "parts": parts,
            "finish_reason": _text(finish_reason)}  # fmt: skip


# ---------------------------------------------------------------------- streams


class _Chunks:
    """What a stream's chunks add up to: per choice text, tool calls, finish reason."""

    def __init__(self) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.usage: Any = None
        self.text: dict[int, list[str]] = {}
        self.calls: dict[int, dict[int, dict[str, Any]]] = {}
        self.finish: dict[int, str | None] = {}

    def add(self, chunk: Any) -> None:
        self.id = self.id or getattr(chunk, "id", None)
        self.model = self.model or getattr(chunk, "model", None)
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        for choice in getattr(chunk, "choices", None) or []:
            index = choice.index
            self.finish.setdefault(index, None)
            if choice.finish_reason:
                self.finish[index] = choice.finish_reason
            delta = choice.delta
            if delta is None:
                continue
            if delta.content:
                self.text.setdefault(index, []).append(delta.content)
            for call in delta.tool_calls or []:
                slot = self.calls.setdefault(index, {}).setdefault(
                    call.index, {"id": None, "function": {"name": None, "arguments": ""}}
                )
                slot["id"] = call.id or slot["id"]
                if call.function is not None:
                    slot["function"]["name"] = call.function.name or slot["function"]["name"]
                    slot["function"]["arguments"] += call.function.arguments or ""

    def messages(self) -> list[dict[str, Any]]:
        out = []
        for index in sorted(self.finish):
            calls = [self.calls.get(index, {})[k] for k in sorted(self.calls.get(index, {}))]
            message = {"role": "assistant", "content": "".join(self.text.get(index, [])),
                       "tool_calls": calls}  # fmt: skip
            out.append(_choice_message(message, self.finish[index]))
        return out


class _StreamSpan:
    """Shared by both stream wrappers: collect chunks, end the span exactly once."""

    def __init__(self, stream: Any, call: _Call) -> None:
        self._stream = stream
        self._call = call
        self._chunks = _Chunks()

    def __getattr__(self, name: str) -> Any:  # response, _iterator … of the SDK stream
        if name in ("_stream", "_call", "_chunks"):  # not set yet: __init__ did not run
            raise AttributeError(name)
        return getattr(self._stream, name)

    def _seen(self, chunk: Any) -> None:
        self._call._guard(self._chunks.add, chunk)

    def _done(self) -> None:
        if self._call.ended:
            return
        call, chunks = self._call, self._chunks

        def describe() -> None:
            call._response(chunks.id, chunks.model)
            messages = chunks.messages()
            call._set(
                "gen_ai.response.finish_reasons", [m["finish_reason"] or "" for m in messages]
            )
            call._usage(chunks.usage)
            if capture_settings().outputs:
                call._capture("gen_ai.output.messages", messages)

        call._guard(describe)
        call.end()

    def _failed(self, exc: BaseException) -> None:
        self._call.fail(exc)

    def __del__(self) -> None:  # abandoned without being closed: end the span anyway
        with contextlib.suppress(Exception):  # never raise from a finalizer
            self._done()


class TracedStream(_StreamSpan):
    """An ``openai.Stream`` whose span ends when it is consumed or closed."""

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._stream)
        except StopIteration:
            self._done()
            raise
        except BaseException as exc:
            self._failed(exc)
            raise
        self._seen(chunk)
        return chunk

    def close(self) -> None:
        self._stream.close()
        self._done()

    def __enter__(self) -> TracedStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class TracedAsyncStream(_StreamSpan):
    """An ``openai.AsyncStream`` whose span ends when it is consumed or closed."""

    def __aiter__(self) -> TracedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._done()
            raise
        except BaseException as exc:
            self._failed(exc)
            raise
        self._seen(chunk)
        return chunk

    async def close(self) -> None:
        await self._stream.close()
        self._done()

    async def __aenter__(self) -> TracedAsyncStream:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


__all__ = ["TracedAsyncStream", "TracedStream", "instrument_openai", "uninstrument_openai"]
