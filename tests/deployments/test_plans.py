"""The PlanSource: route plans for deployment/<name>, renderers, caching and invalidation."""

from __future__ import annotations

import pytest

from llmloop.deployments.plans import DeploymentPlans
from llmloop.deployments.service import ArmWeight, Deployments, VersionSpec
from llmloop.errors import NotFoundError, ValidationError
from llmloop.gateway.plan import PlanSource, RoutePlan
from llmloop.prompts.service import Prompts
from llmloop.runtime import Runtime
from llmloop.store.prompts import PromptContent

ACTOR = "key:test"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def setup(runtime: Runtime, plans: DeploymentPlans) -> tuple[str, Deployments]:
    project = runtime.tenancy.ensure_project("plans")
    prompts = Prompts(runtime.db, runtime.tenancy.audit)
    content = PromptContent(
        kind="chat",
        messages=[
            {"role": "system", "content": "You triage {{ product }} tickets."},  # type: ignore[list-item]
            {"role": "user", "content": "{{ ticket }}{% if urgent %} (urgent){% endif %}"},  # type: ignore[list-item]
        ],
        variables=[
            {"name": "product"},  # type: ignore[list-item]
            {"name": "ticket"},  # type: ignore[list-item]
            {"name": "urgent", "type": "boolean", "default": False},  # type: ignore[list-item]
        ],
        params={"temperature": 0.2, "max_tokens": 100},
        tools=[{"type": "function", "function": {"name": "route", "parameters": {}}}],
        response_schema={"type": "object", "properties": {"intent": {"type": "string"}}},
    )
    prompts.commit(project.id, "triage", content, actor=ACTOR, create=True)
    deployments = Deployments(runtime.db, runtime.tenancy.audit, on_change=plans.invalidate)
    spec = VersionSpec(
        prompt="triage",
        model="scripted/a",
        params={"max_tokens": 20},
        fallbacks=["scripted/b"],
        fallback_on_refusal=True,
        guardrails={"pii": "mask"},
    )
    deployments.create_version(project.id, "ticket-triage", spec, actor=ACTOR, create=True)
    return project.id, deployments


def test_plan_for_a_single_stable_version(runtime: Runtime) -> None:
    plans: PlanSource = runtime.deployment_plans
    project_id, _ = setup(runtime, runtime.deployment_plans)
    plan = plans.plan(project_id, "deployment/ticket-triage", None)
    assert isinstance(plan, RoutePlan)
    assert (plan.model, plan.deployment, plan.environment) == (
        "deployment/ticket-triage",
        "ticket-triage",
        "production",
    )
    assert plan.sticky_by is None and plan.shadow is None
    (arm,) = plan.arms
    assert (arm.name, arm.model, arm.weight) == ("v1", "scripted/a", 1.0)
    assert arm.fallbacks == ("scripted/b",) and arm.fallback_on_refusal
    assert dict(arm.guardrails) == {"pii": "mask"}
    params = dict(arm.params)
    assert params["temperature"] == 0.2 and params["max_tokens"] == 20  # the version wins
    assert params["tools"][0]["function"]["name"] == "route"
    assert params["response_format"]["json_schema"]["schema"]["properties"] == {
        "intent": {"type": "string"}
    }
    assert arm.version_id is not None and arm.version_id.startswith("dpv_")
    assert arm.render is not None
    assert arm.render({"product": "Acme", "ticket": "it broke", "urgent": True}) == [
        {"role": "system", "content": "You triage Acme tickets."},
        {"role": "user", "content": "it broke (urgent)"},
    ]
    with pytest.raises(ValidationError, match="missing required variable\\(s\\) 'ticket'"):
        arm.render({"product": "Acme"})
    with pytest.raises(ValidationError, match="'urgent' must be a boolean"):
        arm.render({"product": "Acme", "ticket": "t", "urgent": "yes"})


def test_plan_follows_split_shadow_and_sticky_key(runtime: Runtime) -> None:
    project_id, deployments = setup(runtime, runtime.deployment_plans)
    for model in ("scripted/canary", "scripted/shadow"):
        deployments.create_version(
            project_id, "ticket-triage", VersionSpec(model=model), actor=ACTOR
        )
    deployments.set_routing(
        project_id,
        "ticket-triage",
        [ArmWeight(version="v2", weight=1), ArmWeight(version="stable", weight=3)],
        sticky_by="session",
        shadow="v3",
        actor=ACTOR,
    )
    plan = runtime.deployment_plans.plan(project_id, "ticket-triage", "production")
    assert [(a.name, a.weight) for a in plan.arms] == [("v1", 0.75), ("v2", 0.25)]  # control first
    assert plan.arms[1].render is None  # no prompt: the request's messages pass through
    assert plan.sticky_by == "session"
    assert plan.shadow is not None and (plan.shadow.name, plan.shadow.model) == (
        "v3",
        "scripted/shadow",
    )


def test_plans_are_cached_and_dropped_on_writes(runtime: Runtime) -> None:
    clock = Clock()
    plans = DeploymentPlans(runtime.db, ttl_s=2.0, clock=clock)
    project_id, deployments = setup(runtime, plans)
    first = plans.plan(project_id, "ticket-triage", None)
    assert plans.plan(project_id, "ticket-triage", None) is first
    assert plans.builds == 1
    # a write in this process drops the cache at once
    deployments.create_version(
        project_id, "ticket-triage", VersionSpec(model="scripted/x"), actor=ACTOR
    )
    deployments.promote(project_id, "ticket-triage", "v2", actor=ACTOR, reason="test")
    second = plans.plan(project_id, "ticket-triage", None)
    assert [a.name for a in second.arms] == ["v2"] and plans.builds == 2
    # a write elsewhere (no invalidation) shows after the TTL
    other = Deployments(runtime.db, runtime.tenancy.audit)
    other.rollback(project_id, "ticket-triage", actor=ACTOR, reason="elsewhere")
    clock.now += 1.0
    assert [a.name for a in plans.plan(project_id, "ticket-triage", None).arms] == ["v2"]
    clock.now += 1.5
    assert [a.name for a in plans.plan(project_id, "ticket-triage", None).arms] == ["v1"]
    # the renderer of a prompt version is compiled once and shared between plans
    assert first.arms[0].render is plans.plan(project_id, "ticket-triage", None).arms[0].render


def test_unknown_deployment_or_environment_is_not_found(runtime: Runtime) -> None:
    project_id, _ = setup(runtime, runtime.deployment_plans)
    plans = runtime.deployment_plans
    with pytest.raises(NotFoundError, match="deployment 'nope' not found"):
        plans.plan(project_id, "deployment/nope", None)
    with pytest.raises(NotFoundError, match="environment 'staging'"):
        plans.plan(project_id, "ticket-triage", "staging")
    other = runtime.tenancy.ensure_project("other")
    with pytest.raises(NotFoundError):
        plans.plan(other.id, "ticket-triage", None)
    # a miss is cached too, and a create in this process clears it
    deployments = Deployments(runtime.db, runtime.tenancy.audit, on_change=plans.invalidate)
    deployments.create_version(
        other.id, "ticket-triage", VersionSpec(model="scripted/o"), actor=ACTOR, create=True
    )
    assert plans.plan(other.id, "ticket-triage", None).arms[0].model == "scripted/o"
