"""``POST /v1/traces``: the OTLP/HTTP trace receiver (protobuf or JSON, gzip).

Authenticated with the same bearer keys as the REST API (editor role); spans go to the
key's project. The answer is sent only once the spans are committed (see
:mod:`llmloop.tracing.writer` for the durability design); a full queue answers 503 with
``Retry-After``.

Ingestion is the server's hottest path, so a request with an ``Authorization: Bearer``
header is answered by a plain ASGI endpoint placed in front of the middleware stack, as
the gateway's routes are: no dependency injection, the body size bounded while it is
read, and the key checked through an :class:`~llmloop.gateway.auth.AuthCache` (a key's
answer is kept ``gateway_auth_ttl_s`` seconds, so a revoked key stops working within
that time). Errors keep llmloop's one JSON shape. Other requests (a key in the UI's
cookie) take the FastAPI route below, which does the same work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmloop.errors import LlmloopError
from llmloop.gateway.auth import AuthCache, bearer
from llmloop.gateway.errors import GatewayError
from llmloop.records import Role
from llmloop.runtime import Runtime
from llmloop.server.asgi import read_body
from llmloop.server.deps import Editor, RuntimeDep
from llmloop.server.errors import error_body, error_response
from llmloop.store.traces import TraceRepository
from llmloop.tenancy import Principal
from llmloop.tracing import otlp
from llmloop.tracing.writer import TraceWriter, WriterBusy

__all__ = ["install", "router", "trace_writer_for"]

log = logging.getLogger("llmloop.tracing.otlp")
router = APIRouter(tags=["otlp"])
_writer_lock = threading.Lock()
PATH = "/v1/traces"
INLINE_DECODE_BYTES = 512 * 1024  # larger bodies are decoded off the event loop


def trace_writer(request: Request, runtime: Runtime) -> TraceWriter:
    """The app's one writer, made on first use."""
    return trace_writer_for(request.app, runtime)


def trace_writer_for(app: FastAPI, runtime: Runtime) -> TraceWriter:
    """The app's one writer (shared by OTLP ingestion and the gateway), made on first use."""
    state = app.state
    writer: TraceWriter | None = getattr(state, "trace_writer", None)
    if writer is not None:
        return writer
    with _writer_lock:
        writer = getattr(state, "trace_writer", None)
        if writer is None:
            writer = TraceWriter(TraceRepository(runtime.db))
            state.trace_writer = writer
        return writer


def _answer(decoded: otlp.Decoded, content_type: str | None) -> tuple[bytes, str]:
    """The ExportTraceServiceResponse body, in the request's encoding."""
    answer = ExportTraceServiceResponse()
    if decoded.rejected:
        answer.partial_success.rejected_spans = decoded.rejected
        answer.partial_success.error_message = decoded.error_message
    if (content_type or "").startswith(otlp.JSON):
        return json_format.MessageToJson(answer, indent=None).encode(), otlp.JSON
    return answer.SerializeToString(), otlp.PROTOBUF


@router.post(
    PATH,
    summary="OTLP/HTTP trace export (application/x-protobuf or application/json).",
    responses={400: {"description": "Malformed body"}, 503: {"description": "Queue full"}},
)
async def export_traces(request: Request, principal: Editor, runtime: RuntimeDep) -> Response:
    body = await request.body()
    content_type = request.headers.get("content-type")
    decoded = await run_in_threadpool(
        otlp.parse,
        body,
        content_type=content_type,
        content_encoding=request.headers.get("content-encoding"),
        max_bytes=runtime.settings.max_request_bytes,
    )
    try:
        future = trace_writer(request, runtime).submit(principal.project.id, decoded.spans)
    except WriterBusy as exc:
        headers = {"Retry-After": str(exc.retry_after_s)}
        return error_response(503, exc.code, exc.message, headers=headers)
    await asyncio.wrap_future(future)
    content, media_type = _answer(decoded, content_type)
    return Response(content, media_type=media_type)


# ---------------------------------------------------------------------- fast path


class _EditorKeys(AuthCache):
    """Bearer keys allowed to export spans (editor or admin, not public), cached."""

    async def _lookup(self, secret: str) -> Principal | GatewayError:
        self.lookups += 1
        try:
            principal = await asyncio.to_thread(self.tenancy.authenticate, secret)
            principal.require(Role.editor)
        except LlmloopError as exc:
            return GatewayError(exc.status, exc.message, code=exc.code)
        return principal


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str, headers: Any = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _too_large(max_bytes: int) -> _Refused:
    message = f"request body larger than {max_bytes} bytes (raise LLMLOOP_MAX_REQUEST_BYTES)"
    return _Refused(413, "request_too_large", message, [(b"connection", b"close")])


class _Headers:
    __slots__ = ("authorization", "content_encoding", "content_length", "content_type")

    def __init__(self, scope: Scope) -> None:
        self.authorization = self.content_type = self.content_encoding = None
        self.content_length: int | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                self.authorization = value
            elif name == b"content-type":
                self.content_type = value.decode("latin-1")
            elif name == b"content-encoding":
                self.content_encoding = value.decode("latin-1")
            elif name == b"content-length" and value.isdigit():
                self.content_length = int(value)


class _Export:
    """``POST /v1/traces`` as plain ASGI (see the module docstring)."""

    def __init__(self, app: FastAPI, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.max_bytes = runtime.settings.max_request_bytes
        self.keys = _EditorKeys(runtime.tenancy, runtime.settings.gateway_auth_ttl_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, h: _Headers) -> None:
        try:
            content, media_type = await self._handle(receive, h)
        except _Refused as exc:
            await _send_error(send, exc.status, exc.code, exc.message, exc.headers)
            return
        except WriterBusy as exc:
            retry = [(b"retry-after", str(exc.retry_after_s).encode())]
            await _send_error(send, 503, exc.code, exc.message, retry)
            return
        except GatewayError as exc:
            await _send_error(send, exc.status, exc.code or "error", exc.message)
            return
        except LlmloopError as exc:
            await _send_error(send, exc.status, exc.code, exc.message)
            return
        headers = [
            (b"content-type", media_type.encode()),
            (b"content-length", b"%d" % len(content)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _handle(self, receive: Receive, h: _Headers) -> tuple[bytes, str]:
        if h.content_length is not None and h.content_length > self.max_bytes:
            raise _too_large(self.max_bytes)
        principal = await self.keys.principal(bearer(h.authorization))
        body = await read_body(receive, self.max_bytes, _too_large)
        kwargs = {
            "content_type": h.content_type,
            "content_encoding": h.content_encoding,
            "max_bytes": self.max_bytes,
        }
        if len(body) <= INLINE_DECODE_BYTES:  # a few ms at most: cheaper than a thread hop
            decoded = otlp.parse(body, **kwargs)  # type: ignore[arg-type]
        else:
            decoded = await asyncio.to_thread(otlp.parse, body, **kwargs)  # type: ignore[arg-type]
        writer = trace_writer_for(self.app, self.runtime)
        await asyncio.wrap_future(writer.submit(principal.project.id, decoded.spans))
        return _answer(decoded, h.content_type)


async def _send_error(send: Send, status: int, code: str, message: str, headers: Any = ()) -> None:
    body = json.dumps(error_body(code, message)).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": head + list(headers)})
    await send({"type": "http.response.body", "body": body})


class _Dispatch:
    """In front of the middleware stack: bearer-authenticated exports go to :class:`_Export`;
    the request count and latency still go to the server's Prometheus metrics."""

    def __init__(self, app: ASGIApp, export: _Export, metrics: Any) -> None:
        self.app = app
        self.export = export
        self.metrics = metrics
        self._counters: dict[int, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        h = _Headers(scope)
        if bearer(h.authorization) is None:  # a cookie, or no key: the FastAPI route answers
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def counted_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.export(scope, receive, counted_send, h)
        except Exception:  # a bug or a database failure: logged, answered 500 (retryable)
            log.exception("OTLP export failed")
            if status == 500:
                message = "internal error while storing spans; retry"
                await _send_error(send, 500, "internal_error", message)
        finally:
            self._count(status, time.perf_counter() - started)

    def _count(self, status: int, seconds: float) -> None:
        if self.metrics is None:
            return
        counter = self._counters.get(status)
        if counter is None:
            counter = self._counters[status] = self.metrics.requests.labels("POST", PATH, status)
            self._counters[0] = self.metrics.latency.labels("POST", PATH)
        counter.inc()
        self._counters[0].observe(seconds)


def install(app: FastAPI, runtime: Runtime) -> None:
    """Serve ``/v1/traces``: the FastAPI route, with the fast path ahead of the middleware."""
    app.include_router(router)
    export = app.state.otlp_export = _Export(app, runtime)
    build = app.build_middleware_stack

    def build_with_export() -> ASGIApp:
        return _Dispatch(build(), export, getattr(app.state, "metrics", None))

    app.build_middleware_stack = build_with_export  # type: ignore[method-assign]
