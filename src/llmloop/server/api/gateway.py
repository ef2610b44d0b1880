"""The OpenAI-compatible gateway routes: ``/v1/chat/completions``, ``/v1/embeddings``,
``/v1/models``.

Plain ASGI endpoints rather than FastAPI routes: the gateway is the hot path, so there
is no dependency injection, no request model and no response model here; the body is
read, handed to :class:`llmloop.gateway.service.Gateway`, and its bytes are sent back.
Errors are answered in the OpenAI error format. A caller disconnecting from a stream
cancels the upstream call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmloop.errors import LlmloopError
from llmloop.gateway.errors import GatewayError, from_llmloop_error
from llmloop.gateway.requests import too_large
from llmloop.gateway.service import Gateway, Incoming, Reply
from llmloop.runtime import Runtime
from llmloop.server.api.otlp import trace_writer_for
from llmloop.server.asgi import read_body

__all__ = ["close", "install"]

log = logging.getLogger("llmloop.gateway")

_ENV = b"x-llmloop-environment"
_SESSION = b"x-llmloop-session-id"


def _incoming(scope: Scope) -> Incoming:
    authorization = environment = session = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value
        elif name == _ENV:
            environment = value.decode("latin-1").strip() or None
        elif name == _SESSION:
            session = value.decode("latin-1").strip() or None
    return Incoming(authorization, environment, session)


async def _send_error(send: Send, error: GatewayError) -> None:
    body = error.to_bytes()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_stream(reply: Reply, receive: Receive, send: Send) -> None:
    """Relay the frames; stop (and so close the upstream) when the caller goes away."""
    assert reply.stream is not None
    frames = reply.stream

    async def relay() -> None:
        await send({"type": "http.response.start", "status": 200, "headers": reply.headers})
        async for frame in frames:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    relaying = asyncio.ensure_future(relay())
    watching = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({relaying, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (relaying, watching):
            task.cancel()
        await asyncio.gather(relaying, watching, return_exceptions=True)
        await frames.aclose()  # type: ignore[attr-defined]
    if relaying.done() and not relaying.cancelled() and relaying.exception() is not None:
        log.warning("gateway stream ended with %r", relaying.exception())


class _Endpoint:
    """One ASGI endpoint over the app's gateway."""

    def __init__(self, app: FastAPI, method: str) -> None:
        self.app = app
        self.method = method

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway: Gateway = self.app.state.gateway
        try:
            reply = await self.handle(gateway, scope, receive)
        except GatewayError as exc:
            await _send_error(send, exc)
            return
        except LlmloopError as exc:
            await _send_error(send, from_llmloop_error(exc))
            return
        except Exception as exc:  # a bug: still an OpenAI-shaped answer, and logged
            log.exception("gateway call failed", exc_info=exc)
            message = f"internal error in the gateway: {type(exc).__name__}"
            await _send_error(send, GatewayError(500, message, code="internal_error"))
            return
        if reply.stream is not None:
            await _send_stream(reply, receive, send)
            return
        headers = reply.headers
        headers.append((b"content-length", b"%d" % len(reply.body)))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def handle(self, gateway: Gateway, scope: Scope, receive: Receive) -> Reply:
        incoming = _incoming(scope)
        if self.method == "models":
            return await gateway.models(incoming)
        raw = await read_body(receive, gateway.settings.max_request_bytes, too_large)
        if self.method == "chat":
            return await gateway.chat(raw, incoming)
        return await gateway.embeddings(raw, incoming)


class _Dispatch:
    """In front of the middleware stack: gateway paths go straight to their endpoint.

    The gateway answers its own errors and bounds its body, so the generic middleware
    (error pages, CORS, size limit, route templates) only costs time there; the request
    count and latency still go to the server's Prometheus metrics.
    """

    def __init__(self, app: ASGIApp, routes: dict[str, tuple[str, _Endpoint]], metrics: Any):
        self.app = app
        self.routes = routes
        self.metrics = metrics
        self._counters: dict[tuple[str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hit = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if hit is None or hit[0] != scope["method"] or self.metrics is None:
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
            await hit[1](scope, receive, counted_send)
        finally:
            self._count(scope["path"], status, time.perf_counter() - started)

    def _count(self, path: str, status: int, seconds: float) -> None:
        counter = self._counters.get((path, status))
        if counter is None:
            method = self.routes[path][0]
            counter = self.metrics.requests.labels(method, path, str(status))
            self._counters[(path, status)] = counter
            self._counters[(path, 0)] = self.metrics.latency.labels(method, path)
        counter.inc()
        self._counters[(path, 0)].observe(seconds)


def install(app: FastAPI, runtime: Runtime) -> None:
    """Create the app's gateway and serve its routes ahead of the middleware stack."""
    writer = trace_writer_for(app, runtime)
    app.state.gateway = Gateway(
        runtime.settings,
        runtime.tenancy,
        runtime.providers,
        plans=lambda: getattr(runtime, "deployment_plans", None),
        submit=writer.submit,
    )
    fast = {
        "/v1/chat/completions": ("POST", _Endpoint(app, "chat")),
        "/v1/embeddings": ("POST", _Endpoint(app, "embeddings")),
        "/v1/models": ("GET", _Endpoint(app, "models")),
    }
    routes = [
        Route(path, endpoint, methods=[method], include_in_schema=False)
        for path, (method, endpoint) in fast.items()
    ]
    app.router.routes[0:0] = routes
    build = app.build_middleware_stack

    def build_with_gateway() -> ASGIApp:
        metrics = getattr(app.state, "metrics", None)
        return _Dispatch(build(), fast, metrics)

    app.build_middleware_stack = build_with_gateway  # type: ignore[method-assign]


async def close(app: FastAPI) -> None:
    gateway: Gateway | None = getattr(app.state, "gateway", None)
    if gateway is not None:
        with contextlib.suppress(Exception):
            await gateway.aclose()
    writer = getattr(app.state, "trace_writer", None)
    if writer is not None:  # commit the traces still queued
        await asyncio.to_thread(writer.close)
