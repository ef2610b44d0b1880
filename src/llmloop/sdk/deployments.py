"""``client.deployments``: versions, promote and rollback, splits, policies, A/B reports."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from llmloop.deployments.analysis import ABReport
from llmloop.deployments.policies import PolicyAction
from llmloop.deployments.service import DeploymentSummary, PointerMove
from llmloop.sdk.base import AsyncApi, Call, SyncApi, as_type
from llmloop.store.deployments import Deployment, DeploymentVersion

DEFAULT_ENVIRONMENT = "production"


def _base(project: str, name: str | None = None) -> str:
    path = f"/api/v1/projects/{project}/deployments"
    return f"{path}/{name}" if name else path


def _env(environment: str | None) -> dict[str, Any]:
    return {"environment": environment or DEFAULT_ENVIRONMENT}


# ------------------------------------------------------------------------- calls


def list_deployments(project: str, environment: str | None) -> Call[list[DeploymentSummary]]:
    params = {"environment": environment} if environment else {}
    return Call("GET", _base(project), as_type(list[DeploymentSummary]), params=params)


def get_deployment(project: str, name: str, environment: str | None) -> Call[DeploymentSummary]:
    return Call("GET", _base(project, name), as_type(DeploymentSummary), params=_env(environment))


def list_versions(
    project: str, name: str, environment: str | None
) -> Call[list[DeploymentVersion]]:
    return Call(
        "GET",
        f"{_base(project, name)}/versions",
        as_type(list[DeploymentVersion]),
        params=_env(environment),
    )


def create_version(
    project: str, name: str, spec: dict[str, Any], environment: str | None
) -> Call[DeploymentVersion]:
    return Call(
        "POST",
        f"{_base(project, name)}/versions",
        as_type(DeploymentVersion),
        json={**spec, "create": True},
        params=_env(environment),
    )


def promote(
    project: str, name: str, version: str, reason: str, environment: str | None
) -> Call[PointerMove]:
    return Call(
        "POST",
        f"{_base(project, name)}/promote",
        as_type(PointerMove),
        json={"version": version, "reason": reason},
        params=_env(environment),
    )


def rollback(
    project: str,
    name: str,
    reason: str,
    to: str | None,
    canary: str | None,
    environment: str | None,
) -> Call[PointerMove]:
    body = {"reason": reason, "to": to, "canary": canary}
    return Call(
        "POST",
        f"{_base(project, name)}/rollback",
        as_type(PointerMove),
        json=body,
        params=_env(environment),
    )


def set_routing(
    project: str,
    name: str,
    weights: Mapping[str, float],
    sticky_by: str | None,
    shadow: str | None,
    reason: str | None,
    environment: str | None,
) -> Call[DeploymentSummary]:
    body = {
        "split": [{"version": v, "weight": w} for v, w in weights.items()],
        "sticky_by": sticky_by,
        "shadow": shadow,
        "reason": reason,
    }
    return Call(
        "PUT",
        f"{_base(project, name)}/routing",
        as_type(DeploymentSummary),
        json=body,
        params=_env(environment),
    )


def set_policy(
    project: str, name: str, policy: dict[str, Any], environment: str | None
) -> Call[Deployment]:
    return Call(
        "PUT",
        f"{_base(project, name)}/policy",
        as_type(Deployment),
        json=policy,
        params=_env(environment),
    )


def ab_report(
    project: str, name: str, environment: str | None, since: datetime | None, alpha: float | None
) -> Call[ABReport]:
    params = _env(environment)
    if since is not None:
        params["since"] = since.isoformat()
    if alpha is not None:
        params["alpha"] = alpha
    return Call("GET", f"{_base(project, name)}/ab", as_type(ABReport), params=params)


def route_plan(project: str, name: str, environment: str | None) -> Call[dict[str, Any]]:
    return Call(
        "GET", f"{_base(project, name)}/plan", as_type(dict[str, Any]), params=_env(environment)
    )


def evaluate_policies(project: str) -> Call[list[PolicyAction]]:
    return Call("POST", f"{_base(project)}/evaluate-policies", as_type(list[PolicyAction]))


def version_spec(
    model: str,
    *,
    prompt: str | None = None,
    prompt_version: str = "latest",
    params: Mapping[str, Any] | None = None,
    guardrails: Mapping[str, Any] | None = None,
    fallbacks: Sequence[str] = (),
    fallback_on_refusal: bool = False,
    message: str = "",
) -> dict[str, Any]:
    return {
        "model": model,
        "prompt": prompt,
        "prompt_version": prompt_version,
        "params": dict(params or {}),
        "guardrails": dict(guardrails or {}),
        "fallbacks": list(fallbacks),
        "fallback_on_refusal": fallback_on_refusal,
        "message": message,
    }


# ------------------------------------------------------------------------- APIs


class DeploymentsApi(SyncApi):
    def list(self, environment: str | None = None) -> list[DeploymentSummary]:
        return self._run(list_deployments(self._project, environment))

    def get(self, name: str, environment: str | None = None) -> DeploymentSummary:
        return self._run(get_deployment(self._project, name, environment))

    def versions(
        self, name: str, environment: str | None = None
    ) -> builtins.list[DeploymentVersion]:
        return self._run(list_versions(self._project, name, environment))

    def create(
        self, name: str, model: str, *, environment: str | None = None, **spec: Any
    ) -> DeploymentVersion:
        """Add a version (the deployment is created when missing); see :func:`version_spec`."""
        body = version_spec(model, **spec)
        return self._run(create_version(self._project, name, body, environment))

    def promote(
        self, name: str, version: str, reason: str, environment: str | None = None
    ) -> PointerMove:
        return self._run(promote(self._project, name, version, reason, environment))

    def rollback(
        self,
        name: str,
        reason: str,
        *,
        to: str | None = None,
        canary: str | None = None,
        environment: str | None = None,
    ) -> PointerMove:
        return self._run(rollback(self._project, name, reason, to, canary, environment))

    def split(
        self,
        name: str,
        weights: Mapping[str, float],
        *,
        sticky_by: str | None = None,
        shadow: str | None = None,
        reason: str | None = None,
        environment: str | None = None,
    ) -> DeploymentSummary:
        """Route traffic by weight, e.g. ``{"stable": 90, "v3": 10}``."""
        call = set_routing(self._project, name, weights, sticky_by, shadow, reason, environment)
        return self._run(call)

    def set_policy(self, name: str, *, environment: str | None = None, **policy: Any) -> Deployment:
        return self._run(set_policy(self._project, name, policy, environment))

    def ab(
        self,
        name: str,
        *,
        environment: str | None = None,
        since: datetime | None = None,
        alpha: float | None = None,
    ) -> ABReport:
        return self._run(ab_report(self._project, name, environment, since, alpha))

    def plan(self, name: str, environment: str | None = None) -> dict[str, Any]:
        return self._run(route_plan(self._project, name, environment))

    def evaluate_policies(self) -> builtins.list[PolicyAction]:
        return self._run(evaluate_policies(self._project))


class AsyncDeploymentsApi(AsyncApi):
    async def list(self, environment: str | None = None) -> list[DeploymentSummary]:
        return await self._run(list_deployments(self._project, environment))

    async def get(self, name: str, environment: str | None = None) -> DeploymentSummary:
        return await self._run(get_deployment(self._project, name, environment))

    async def versions(
        self, name: str, environment: str | None = None
    ) -> builtins.list[DeploymentVersion]:
        return await self._run(list_versions(self._project, name, environment))

    async def create(
        self, name: str, model: str, *, environment: str | None = None, **spec: Any
    ) -> DeploymentVersion:
        body = version_spec(model, **spec)
        return await self._run(create_version(self._project, name, body, environment))

    async def promote(
        self, name: str, version: str, reason: str, environment: str | None = None
    ) -> PointerMove:
        return await self._run(promote(self._project, name, version, reason, environment))

    async def rollback(
        self,
        name: str,
        reason: str,
        *,
        to: str | None = None,
        canary: str | None = None,
        environment: str | None = None,
    ) -> PointerMove:
        return await self._run(rollback(self._project, name, reason, to, canary, environment))

    async def split(
        self,
        name: str,
        weights: Mapping[str, float],
        *,
        sticky_by: str | None = None,
        shadow: str | None = None,
        reason: str | None = None,
        environment: str | None = None,
    ) -> DeploymentSummary:
        call = set_routing(self._project, name, weights, sticky_by, shadow, reason, environment)
        return await self._run(call)

    async def set_policy(
        self, name: str, *, environment: str | None = None, **policy: Any
    ) -> Deployment:
        return await self._run(set_policy(self._project, name, policy, environment))

    async def ab(
        self,
        name: str,
        *,
        environment: str | None = None,
        since: datetime | None = None,
        alpha: float | None = None,
    ) -> ABReport:
        return await self._run(ab_report(self._project, name, environment, since, alpha))

    async def plan(self, name: str, environment: str | None = None) -> dict[str, Any]:
        return await self._run(route_plan(self._project, name, environment))

    async def evaluate_policies(self) -> builtins.list[PolicyAction]:
        return await self._run(evaluate_policies(self._project))
