"""The application factory: REST API, web UI, metrics, one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from llmloop import __version__
from llmloop.deployments.policies import start_policy_task
from llmloop.runtime import Runtime
from llmloop.server import errors
from llmloop.server.api import annotations as annotations_api
from llmloop.server.api import audit, health, keys, models, projects
from llmloop.server.api import datasets as datasets_api
from llmloop.server.api import deployments as deployments_api
from llmloop.server.api import evaluations as evaluations_api
from llmloop.server.api import experiments as experiments_api
from llmloop.server.api import feedback as feedback_api
from llmloop.server.api import gateway as gateway_api
from llmloop.server.api import labeling as labeling_api
from llmloop.server.api import otlp as otlp_api
from llmloop.server.api import prompts as prompts_api
from llmloop.server.api import suites as suites_api
from llmloop.server.api import traces as traces_api
from llmloop.server.cors import FeedbackCors
from llmloop.server.limits import RequestSizeLimit
from llmloop.server.metrics import MetricsMiddleware, ServerMetrics
from llmloop.server.ui import annotation as ui_annotation
from llmloop.server.ui import datasets as ui_datasets
from llmloop.server.ui import deployments as ui_deployments
from llmloop.server.ui import evaluations as ui_evaluations
from llmloop.server.ui import experiments as ui_experiments
from llmloop.server.ui import labeling as ui_labeling
from llmloop.server.ui import prompts as ui_prompts
from llmloop.server.ui import routes as ui_routes
from llmloop.server.ui import suites as ui_suites
from llmloop.server.ui import traces as ui_traces
from llmloop.settings import Settings
from llmloop.tracing.retention import start_retention_task

STATIC_DIR = Path(__file__).parent / "static"

API_ROUTERS = (
    health.router,
    projects.router,
    keys.router,
    audit.router,
    models.router,
    evaluations_api.router,
    experiments_api.router,
    suites_api.router,
    traces_api.router,
    feedback_api.router,
    datasets_api.router,
    labeling_api.router,
    annotations_api.router,
    prompts_api.router,
    deployments_api.router,
)


def create_app(runtime: Runtime | None = None, *, settings: Settings | None = None) -> FastAPI:
    """Build the server. Pass a ``runtime`` to share one with the caller (tests, demo)."""
    owns_runtime = runtime is None
    runtime = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        policies = start_policy_task(
            lambda: deployments_api.deployments_of(runtime), runtime.settings.policy_interval_s
        )
        retention = start_retention_task(runtime.db, runtime.settings.trace_retention_days)
        yield
        if policies is not None:
            policies.cancel()
        if retention is not None:
            retention.cancel()
        await gateway_api.close(_app)
        await evaluations_api.stop_background(runtime)
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
    gateway_api.install(app, runtime)  # /v1/chat/completions, /v1/embeddings, /v1/models
    otlp_api.install(app, runtime)  # /v1/traces, the OTLP/HTTP path exporters expect
    app.include_router(ui_routes.router)
    app.include_router(ui_datasets.router)
    app.include_router(ui_prompts.router)
    app.include_router(ui_deployments.router)
    app.include_router(ui_annotation.router)
    app.include_router(ui_evaluations.router)
    app.include_router(ui_experiments.router)
    app.include_router(ui_labeling.router)
    app.include_router(ui_suites.router)
    app.include_router(ui_traces.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=True), name="static")

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestSizeLimit, max_bytes=runtime.settings.max_request_bytes)
    app.add_middleware(FeedbackCors, allowed_origins=runtime.settings.feedback_allowed_origins)
    return app
