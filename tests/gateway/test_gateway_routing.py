"""Deployments through the gateway: weighted arms, sticky users, server-side rendering,
shadow traffic, and traces tagged with the deployment, arm and environment."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import httpx
import openai
from gw_support import Plans, openai_error, wait_for_trace

from llmloop.errors import ValidationError
from llmloop.gateway.plan import Arm, RoutePlan
from llmloop.runtime import Runtime
from llmloop.store.traces_types import TraceFilter
from llmloop.testing import ScriptedUpstream
from llmloop.tracing.service import TraceService
from support import LiveServer, Tenant


def render_triage(variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    if "ticket" not in variables:
        raise ValidationError(
            "variable 'ticket' is missing",
            details=[{"field": "ticket", "message": "missing", "type": "missing"}],
        )
    return [
        {"role": "system", "content": "Classify the ticket."},
        {"role": "user", "content": f"Ticket: {variables['ticket']}"},
    ]


def split(plans: Plans, *, sticky: bool = True, shadow: Arm | None = None) -> str:
    arms = (
        Arm("v1", "openai/gpt-4o-mini", weight=1, render=render_triage, version_id="dv_1"),
        Arm("v2", "backup/gpt-4o", weight=1, render=render_triage, version_id="dv_2",
            params={"temperature": 0.2}),
    )  # fmt: skip
    plans.plans["triage"] = RoutePlan(
        model="deployment/triage", arms=arms, sticky_by="user" if sticky else None, shadow=shadow
    )
    return "deployment/triage"


def call(client: httpx.Client, model: str, user: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "user": user, "variables": {"ticket": "refund please"}, **extra}
    return client.post("/v1/chat/completions", json=body)


def test_weighted_split_is_sticky_per_user(gw: httpx.Client, plans: Plans) -> None:
    model = split(plans)
    arms = {f"user-{i}": call(gw, model, f"user-{i}").headers["x-llmloop-arm"] for i in range(40)}
    assert set(arms.values()) == {"v1", "v2"}
    assert 8 <= Counter(arms.values())["v1"] <= 32  # about half each
    for user, arm in list(arms.items())[:10]:  # the same user keeps the same arm
        assert call(gw, model, user).headers["x-llmloop-arm"] == arm


def test_prompt_is_rendered_server_side_with_arm_params(
    live_server: LiveServer,
    acme: Tenant,
    plans: Plans,
    upstream: ScriptedUpstream,
    backup: ScriptedUpstream,
) -> None:
    model = split(plans, sticky=False)
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=acme.secret(), max_retries=0)
    for _ in range(12):
        client.chat.completions.create(
            model=model,
            messages=[],
            extra_body={"variables": {"ticket": "my order is late"}},
            extra_headers={"X-Llmloop-Environment": "staging"},
        )
    sent = upstream.requests + backup.requests
    assert upstream.requests and backup.requests
    for request in sent:
        assert request.body["messages"][1]["content"] == "Ticket: my order is late"
        assert "variables" not in request.body
    assert all(r.body["temperature"] == 0.2 for r in backup.requests)
    assert all("temperature" not in r.body for r in upstream.requests)
    assert {c[2] for c in plans.calls} == {"staging"}


def test_missing_variable_is_a_400_naming_it(gw: httpx.Client, plans: Plans) -> None:
    model = split(plans)
    response = gw.post("/v1/chat/completions", json={"model": model, "variables": {}})
    error = openai_error(response, 400)
    assert error["param"] == "variables.ticket" and error["code"] == "invalid_variables"


def test_trace_carries_deployment_arm_and_environment(
    gw: httpx.Client, plans: Plans, runtime: Runtime, acme: Tenant
) -> None:
    model = split(plans)
    response = gw.post(
        "/v1/chat/completions",
        json={"model": model, "user": "user-3", "variables": {"ticket": "t"},
              "metadata": {"session_id": "sess-9"}},
        headers={"X-Llmloop-Environment": "production"},
    )  # fmt: skip
    arm = response.headers["x-llmloop-arm"]
    detail = wait_for_trace(runtime, acme.project.id, response.headers["x-llmloop-trace-id"])
    root = detail.spans[0].span
    assert set(root.tags) == {"deployment:triage", f"arm:{arm}", "env:production"}
    assert root.attributes["llmloop.arm"] == arm
    assert root.attributes["llmloop.deployment"] == "triage"
    assert root.attributes["llmloop.deployment.version_id"] == {"v1": "dv_1", "v2": "dv_2"}[arm]
    assert (root.user_id, root.session_id) == ("user-3", "sess-9")
    assert set(detail.trace.tags) >= {"deployment:triage", f"arm:{arm}"}


def test_shadow_gets_a_copy_with_its_own_trace(
    gw: httpx.Client,
    plans: Plans,
    upstream: ScriptedUpstream,
    backup: ScriptedUpstream,
    runtime: Runtime,
    acme: Tenant,
) -> None:
    shadow = Arm("candidate", "backup/gpt-4o-candidate", render=render_triage)
    plans.plans["triage"] = RoutePlan(
        model="deployment/triage",
        arms=(Arm("v1", "openai/gpt-4o-mini", render=render_triage),),
        shadow=shadow,
    )
    upstream.script("primary answer")
    response = call(gw, "deployment/triage", "u1")
    assert response.json()["choices"][0]["message"]["content"] == "primary answer"
    deadline = time.monotonic() + 5
    while not backup.requests:
        assert time.monotonic() < deadline, "the shadow copy was not sent"
        time.sleep(0.02)
    assert backup.requests[0].body["model"] == "gpt-4o-candidate"
    service = TraceService(runtime.db)
    deadline = time.monotonic() + 5
    while not (found := service.list(acme.project.id, TraceFilter(tags=["shadow"]))):
        assert time.monotonic() < deadline, "no shadow trace"
        time.sleep(0.05)
    assert found[0].trace_id != response.headers["x-llmloop-trace-id"]
    assert "arm:candidate" in found[0].tags


def test_router_drops_cached_plans_when_the_source_invalidates() -> None:
    """A promote or rollback in this process reaches the next call, not after the TTL."""
    import asyncio

    from llmloop.gateway.routing import Router

    class Source:
        generation = 0
        current = "v1"

        def plan(self, project_id: str, deployment: str, environment: str | None) -> RoutePlan:
            arm = Arm(self.current, "openai/gpt-4o-mini")
            return RoutePlan(model=f"deployment/{deployment}", arms=(arm,), deployment=deployment)

    source = Source()
    router = Router(lambda: source, ttl_s=60)

    async def arm_names() -> list[str]:
        plan = await router.plan("p1", "deployment/triage", None)
        return [a.name for a in plan.arms]

    assert asyncio.run(arm_names()) == ["v1"]
    source.current = "v2"
    assert asyncio.run(arm_names()) == ["v1"]  # cached within the TTL
    source.generation += 1
    assert asyncio.run(arm_names()) == ["v2"]
