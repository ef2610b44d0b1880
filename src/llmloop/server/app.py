"""The application factory: REST API, web UI, metrics, one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from llmloop import __version__
from llmloop.runtime import Runtime
from llmloop.server import errors
from llmloop.server.api import audit, health, keys, models, projects
from llmloop.server.api import datasets as datasets_api
from llmloop.server.api import evaluations as evaluations_api
from llmloop.server.api import otlp as otlp_api
from llmloop.server.api import traces as traces_api
from llmloop.server.limits import RequestSizeLimit
from llmloop.server.metrics import MetricsMiddleware, ServerMetrics
from llmloop.server.ui import datasets as ui_datasets
from llmloop.server.ui import evaluations as ui_evaluations
from llmloop.server.ui import routes as ui_routes
from llmloop.server.ui import traces as ui_traces
from llmloop.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"

API_ROUTERS = (
    health.router,
    projects.router,
    keys.router,
    audit.router,
    models.router,
    evaluations_api.router,
    traces_api.router,
    datasets_api.router,
)


def create_app(runtime: Runtime | None = None, *, settings: Settings | None = None) -> FastAPI:
    """Build the server. Pass a ``runtime`` to share one with the caller (tests, demo)."""
    owns_runtime = runtime is None
    runtime = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await runtime.providers.aclose()
        if owns_runtime:
            runtime.close()

    app = FastAPI(
        title="llmloop",
        version=__version__,
        summary="Data, prompts, evaluation, deployment and monitoring for LLM applications.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    metrics = ServerMetrics()
    metrics.info.labels(__version__).set(1)
    app.state.metrics = metrics

    errors.install(app)
    for router in API_ROUTERS:
        app.include_router(router, prefix="/api/v1")
    app.add_route("/metrics", metrics.endpoint, include_in_schema=False)
    app.include_router(otlp_api.router)  # /v1/traces, the OTLP/HTTP path exporters expect
    app.include_router(ui_routes.router)
    app.include_router(ui_datasets.router)
    app.include_router(ui_evaluations.router)
    app.include_router(ui_traces.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=True), name="static")

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestSizeLimit, max_bytes=runtime.settings.max_request_bytes)
    return app
