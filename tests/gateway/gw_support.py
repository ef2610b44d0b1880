"""Helpers of the gateway tests: a PlanSource, trace polling, request shortcuts."""

from __future__ import annotations

import time
from typing import Any

import httpx

from llmloop.errors import NotFoundError
from llmloop.gateway.plan import RoutePlan
from llmloop.runtime import Runtime
from llmloop.store.traces_types import TraceDetail
from llmloop.tracing.service import TraceService


class Plans:
    """A PlanSource for tests: plans by deployment name, the same in every environment."""

    def __init__(self) -> None:
        self.plans: dict[str, RoutePlan] = {}
        self.calls: list[tuple[str, str, str | None]] = []

    def plan(self, project_id: str, deployment: str, environment: str | None) -> RoutePlan:
        self.calls.append((project_id, deployment, environment))
        found = self.plans.get(deployment)
        if found is None:
            raise NotFoundError(f"deployment {deployment!r} not found")
        return RoutePlan(
            model=f"deployment/{deployment}",
            arms=found.arms,
            deployment=deployment,
            environment=environment,
            sticky_by=found.sticky_by,
            shadow=found.shadow,
        )


def wait_for_trace(runtime: Runtime, project_id: str, trace_id: str) -> TraceDetail:
    """The trace once the writer committed it (the gateway does not wait for that)."""
    service = TraceService(runtime.db)
    deadline = time.monotonic() + 10
    while True:
        try:
            return service.detail(project_id, trace_id)
        except NotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def chat(client: httpx.Client, content: str = "hello there", **body: Any) -> httpx.Response:
    payload = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
    return client.post("/v1/chat/completions", json={**payload, **body})


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The OpenAI error object of ``response``, checked for shape and status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["message"], error
    return error
