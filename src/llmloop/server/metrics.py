"""Prometheus metrics: one registry per app, an ASGI middleware, and ``/metrics``."""

from __future__ import annotations

import time

from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerMetrics:
    """The metrics the server itself exposes; features may register more on ``registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "llmloop_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "llmloop_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "llmloop_http_requests_in_flight", "Requests being served.", registry=self.registry
        )
        self.info = Gauge(
            "llmloop_build_info",
            "Version of the running server.",
            ["version"],
            registry=self.registry,
        )

    async def endpoint(self, _request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: dict[int, str] = {}  # id(route) -> template (routes are unhashable)

    def _route_template(self, scope: Scope) -> str:
        """The matched route's full path template (``/api/v1/projects/{project}``).

        ``scope["route"]`` is the route as declared on its router, without the prefix
        it was included under; the app's route contexts know the full template.
        """
        route = scope.get("route")
        if route is None:
            return "unmatched"
        template = self._templates.get(id(route))
        if template is None:
            app_routes = getattr(scope.get("app"), "routes", [])
            self._templates = {
                id(c.original_route): c.path or c.path_format or "unmatched"
                for c in iter_route_contexts(app_routes)
            }
            template = self._templates.get(id(route)) or getattr(route, "path", None) or "unmatched"
        return template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            route = self._route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
