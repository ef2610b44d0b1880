"""``observe``: trace a function or a block as an OpenTelemetry span.

As a decorator it wraps sync and async functions and (async) generators; as a context
manager (``with observe("step") as span:``) it traces a block. Spans nest through the
OpenTelemetry context. Inputs (the bound arguments) and outputs (the return value, or
the items yielded) are captured as JSON, passed through the redaction hook first and
truncated at the size limit; a failure while capturing is noted on the span and never
reaches the caller. Session, user and tags set on any span apply to its trace.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar, overload

from opentelemetry.trace import Span as OtelSpan

from llmloop.tracing.setup import capture_settings, tracer

F = TypeVar("F", bound=Callable[..., Any])
MAX_GENERATOR_ITEMS = 100
TRUNCATED = "…[truncated]"


def encode(value: Any) -> tuple[str, bool]:
    """``value`` redacted, as JSON text cut at the size limit; and whether it was cut."""
    settings = capture_settings()
    if settings.redact is not None:
        value = settings.redact(value)
    text = value if isinstance(value, str) else json.dumps(value, default=repr, ensure_ascii=False)
    if len(text) > settings.max_bytes:
        return text[: settings.max_bytes] + TRUNCATED, True
    return text, False


class ObservedSpan:
    """The handle ``with observe(...) as span`` gives: set outputs, usage, trace fields."""

    def __init__(self, span: OtelSpan) -> None:
        self.otel = span

    def _capture(self, side: str, value: Any) -> None:
        try:
            text, cut = encode(value)
        except Exception as exc:  # a bad value or redaction hook must not break the caller
            self.otel.set_attribute(f"llmloop.{side}_error", f"{type(exc).__name__}: {exc}")
            return
        self.otel.set_attribute(f"llmloop.{side}", text)
        if cut:
            self.otel.set_attribute(f"llmloop.{side}_truncated", True)

    def set_inputs(self, value: Any) -> None:
        self._capture("inputs", value)

    def set_outputs(self, value: Any) -> None:
        self._capture("outputs", value)

    def set_attribute(self, key: str, value: Any) -> None:
        self.otel.set_attribute(key, value)

    def set_trace(
        self,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> None:
        """User, session and tags of the whole trace (any span of it may carry them)."""
        if user_id is not None:
            self.otel.set_attribute("llmloop.user_id", user_id)
        if session_id is not None:
            self.otel.set_attribute("llmloop.session_id", session_id)
        if tags:
            self.otel.set_attribute("llmloop.tags", [str(t) for t in tags])

    def set_usage(
        self, *, model: str | None = None, input_tokens: int = 0, output_tokens: int = 0
    ) -> None:
        """Model and tokens, under the GenAI semantic convention names."""
        if model is not None:
            self.otel.set_attribute("gen_ai.request.model", model)
        self.otel.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        self.otel.set_attribute("gen_ai.usage.output_tokens", output_tokens)


class Observer:
    """Trace a function (decorator) or a block (context manager) as a span."""

    def __init__(
        self,
        name: str | None = None,
        *,
        kind: str = "span",
        capture_inputs: bool | None = None,
        capture_outputs: bool | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        tags: Sequence[str] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.capture_inputs = capture_inputs
        self.capture_outputs = capture_outputs
        self.trace_fields = {"user_id": user_id, "session_id": session_id, "tags": tags}
        self.attributes = attributes or {}
        self._stack: list[tuple[AbstractContextManager[OtelSpan], ObservedSpan]] = []

    # ------------------------------------------------------------ context manager

    def _start(self, name: str) -> tuple[AbstractContextManager[OtelSpan], ObservedSpan]:
        manager = tracer().start_as_current_span(name)
        span = ObservedSpan(manager.__enter__())
        try:
            span.otel.set_attribute("llmloop.span.kind", self.kind)
            for key, value in self.attributes.items():
                span.otel.set_attribute(key, value)
            span.set_trace(**self.trace_fields)  # type: ignore[arg-type]
        except Exception as exc:  # a bad attribute value must not break the caller
            span.otel.set_attribute("llmloop.attributes_error", str(exc))
        return manager, span

    def __enter__(self) -> ObservedSpan:
        manager, span = self._start(self.name or "span")
        self._stack.append((manager, span))
        return span

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        manager, _ = self._stack.pop()
        manager.__exit__(kind, exc, tb)

    async def __aenter__(self) -> ObservedSpan:
        return self.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(kind, exc, tb)

    # ------------------------------------------------------------ decorator

    def __call__(self, fn: F) -> F:
        name: str = self.name or str(getattr(fn, "__qualname__", None) or "call")
        signature = inspect.signature(fn)
        settings = capture_settings
        if inspect.isasyncgenfunction(fn):
            wrapper: Any = self._wrap_async_gen(fn, name, signature)
        elif inspect.isgeneratorfunction(fn):
            wrapper = self._wrap_gen(fn, name, signature)
        elif inspect.iscoroutinefunction(fn):

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._span(name, signature, args, kwargs) as span:
                    result = await fn(*args, **kwargs)
                    self._outputs(span, result, settings().outputs)
                    return result

        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._span(name, signature, args, kwargs) as span:
                    result = fn(*args, **kwargs)
                    self._outputs(span, result, settings().outputs)
                    return result

        return functools.wraps(fn)(wrapper)  # type: ignore[return-value]

    def _span(self, name: str, signature: inspect.Signature, args: Any, kwargs: Any) -> _CallSpan:
        return _CallSpan(self, name, signature, args, kwargs)

    def _outputs(self, span: ObservedSpan, value: Any, default: bool) -> None:
        capture = default if self.capture_outputs is None else self.capture_outputs
        if capture:
            span.set_outputs(value)

    def _wrap_gen(self, fn: Callable[..., Iterator[Any]], name: str, sig: inspect.Signature) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with self._span(name, sig, args, kwargs) as span:
                items: list[Any] = []
                for item in fn(*args, **kwargs):
                    if len(items) < MAX_GENERATOR_ITEMS:
                        items.append(item)
                    yield item
                self._outputs(span, items, capture_settings().outputs)

        return wrapper

    def _wrap_async_gen(
        self, fn: Callable[..., AsyncIterator[Any]], name: str, sig: inspect.Signature
    ) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            with self._span(name, sig, args, kwargs) as span:
                items: list[Any] = []
                async for item in fn(*args, **kwargs):
                    if len(items) < MAX_GENERATOR_ITEMS:
                        items.append(item)
                    yield item
                self._outputs(span, items, capture_settings().outputs)

        return wrapper


class _CallSpan:
    """The span of one call: started with the call's inputs captured."""

    def __init__(
        self, owner: Observer, name: str, signature: inspect.Signature, args: Any, kwargs: Any
    ) -> None:
        self.owner, self.name, self.signature = owner, name, signature
        self.args, self.kwargs = args, kwargs

    def __enter__(self) -> ObservedSpan:
        self.manager, span = self.owner._start(self.name)
        capture = self.owner.capture_inputs
        if capture_settings().inputs if capture is None else capture:
            try:
                bound = self.signature.bind_partial(*self.args, **self.kwargs).arguments
                span.set_inputs({k: v for k, v in bound.items() if k not in ("self", "cls")})
            except TypeError as exc:  # the call itself is wrong: the function will say so
                span.otel.set_attribute("llmloop.inputs_error", str(exc))
        return span

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.manager.__exit__(kind, exc, tb)


@overload
def observe(name: F) -> F: ...


@overload
def observe(
    name: str | None = None,
    *,
    kind: str = "span",
    capture_inputs: bool | None = None,
    capture_outputs: bool | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    tags: Sequence[str] | None = None,
    attributes: dict[str, Any] | None = None,
) -> Observer: ...


def observe(name: Any = None, **options: Any) -> Any:
    """``@observe``, ``@observe("name", kind="llm", tags=[...])`` or ``with observe("step")``.

    ``kind`` is one of span, llm, chain, tool, retriever, embedding, agent, reranker,
    guardrail. ``capture_inputs``/``capture_outputs`` override the configured default.
    """
    if callable(name):
        return Observer(None, **options)(name)
    return Observer(name, **options)
