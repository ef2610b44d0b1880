"""Route plans for ``deployment/<name>``: the gateway's :class:`PlanSource`.

A plan is built from the deployment's routing policy (one arm per version in the split,
or the stable version alone), its shadow version and sticky key. Plans are cached in
memory for ``ttl_s`` seconds and dropped at once when this process writes a change
(:meth:`DeploymentPlans.invalidate`); other processes' changes show within the TTL.
Renderers are compiled once per prompt version, which never changes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from llmloop.deployments.service import DEFAULT_ENVIRONMENT, STABLE, traffic
from llmloop.errors import NotFoundError
from llmloop.gateway.plan import Arm, RoutePlan
from llmloop.prompts.templates import CompiledPrompt, compile_version
from llmloop.store import Database
from llmloop.store.deployments import DeploymentRepository, DeploymentVersion
from llmloop.store.prompts import PromptRepository, PromptVersion

PREFIX = "deployment/"
DEFAULT_TTL_S = 2.0
MAX_RENDERERS = 4096


def merged_params(prompt: PromptVersion | None, version: DeploymentVersion) -> dict[str, Any]:
    """The prompt version's model parameters, tools and response schema, under the
    deployment version's own parameters (which win)."""
    params: dict[str, Any] = {}
    if prompt is not None:
        params.update(prompt.params)
        if prompt.tools:
            params["tools"] = prompt.tools
        if prompt.response_schema:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": prompt.prompt_name.replace(".", "_")[:64],
                    "schema": prompt.response_schema,
                },
            }
    params.update(version.params)
    return params


class DeploymentPlans:
    """Implements :class:`llmloop.gateway.plan.PlanSource` over the deployments store."""

    def __init__(
        self,
        db: Database,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._clock = clock
        self._deployments = DeploymentRepository(db)
        self._prompts = PromptRepository(db)
        self._plans: dict[tuple[str, str, str], tuple[float, RoutePlan | NotFoundError]] = {}
        self._renderers: OrderedDict[str, CompiledPrompt] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self.builds = 0  # plans built from the database (cache misses), for tests and metrics

    def plan(self, project_id: str, deployment: str, environment: str | None) -> RoutePlan:
        """The current plan for ``deployment`` (with or without the ``deployment/`` prefix)."""
        name = deployment.removeprefix(PREFIX)
        key = (project_id, name, environment or DEFAULT_ENVIRONMENT)
        now = self._clock()
        hit = self._plans.get(key)
        if hit is not None and hit[0] > now:
            return _answer(hit[1])
        generation = self._generation
        built: RoutePlan | NotFoundError
        try:
            built = self._build(*key)
        except NotFoundError as exc:
            built = exc
        with self._lock:
            if generation == self._generation:
                self._plans[key] = (now + self.ttl_s, built)
        return _answer(built)

    @property
    def generation(self) -> int:
        """Grows on every invalidation; callers keeping plans drop them when it moves."""
        return self._generation

    def invalidate(self, project_id: str | None = None) -> None:
        """Forget cached plans (of one project, or all); the next call rebuilds."""
        with self._lock:
            self._generation += 1
            if project_id is None:
                self._plans.clear()
            else:
                for key in [k for k in self._plans if k[0] == project_id]:
                    del self._plans[key]

    # ---------------------------------------------------------------- building

    def _build(self, project_id: str, name: str, environment: str) -> RoutePlan:
        self.builds += 1
        deployment = self._deployments.get(project_id, name, environment)
        versions = {v.id: v for v in self._deployments.versions(deployment.id)}
        aliases = {a.name: a.version_id for a in self._deployments.aliases(deployment.id)}
        stable = versions.get(aliases.get(STABLE, ""))
        shares = traffic(deployment.routing, stable)
        if not shares:
            raise NotFoundError(
                f"deployment {name!r} ({environment}) has no version to serve yet; "
                "create one with `llmloop deploy create`"
            )
        order = sorted(
            (versions[vid] for vid in shares if vid in versions),
            key=lambda v: (stable is None or v.id != stable.id, v.number),
        )
        arms = tuple(self._arm(project_id, v, shares[v.id]) for v in order)
        shadow_id = deployment.routing.shadow_version_id
        shadow = self._arm(project_id, versions[shadow_id], 0.0) if shadow_id in versions else None
        return RoutePlan(
            model=PREFIX + name,
            arms=arms,
            deployment=name,
            environment=environment,
            sticky_by=deployment.routing.sticky_by,
            shadow=shadow,
        )

    def _arm(self, project_id: str, version: DeploymentVersion, weight: float) -> Arm:
        prompt = self._prompt(project_id, version)
        return Arm(
            name=version.label,
            model=version.model,
            weight=weight,
            params=MappingProxyType(merged_params(prompt, version)),
            render=None if prompt is None else self._renderer(prompt),
            fallbacks=tuple(version.fallbacks),
            fallback_on_refusal=version.fallback_on_refusal,
            guardrails=MappingProxyType(dict(version.guardrails)),
            version_id=version.id,
        )

    def _prompt(self, project_id: str, version: DeploymentVersion) -> PromptVersion | None:
        if version.prompt_version_id is None:
            return None
        found = self._prompts.version_in_project(project_id, version.prompt_version_id)
        if found is None:
            raise NotFoundError(f"prompt version {version.prompt_version_id!r} is gone")
        return found

    def _renderer(self, prompt: PromptVersion) -> CompiledPrompt:
        with self._lock:
            cached = self._renderers.get(prompt.id)
            if cached is not None:
                self._renderers.move_to_end(prompt.id)
                return cached
        compiled = compile_version(prompt)
        with self._lock:
            self._renderers[prompt.id] = compiled
            while len(self._renderers) > MAX_RENDERERS:
                self._renderers.popitem(last=False)
        return compiled


def _answer(value: RoutePlan | NotFoundError) -> RoutePlan:
    if isinstance(value, NotFoundError):
        raise NotFoundError(value.message)
    return value


def plan_summary(plan: RoutePlan) -> Mapping[str, Any]:
    """A plan as JSON-ready data (renderers shown as the prompt they render)."""

    def arm(a: Arm) -> dict[str, Any]:
        return {
            "name": a.name,
            "model": a.model,
            "weight": a.weight,
            "params": dict(a.params),
            "fallbacks": list(a.fallbacks),
            "fallback_on_refusal": a.fallback_on_refusal,
            "guardrails": dict(a.guardrails),
            "version_id": a.version_id,
            "renders_prompt": a.render is not None,
        }

    return {
        "model": plan.model,
        "deployment": plan.deployment,
        "environment": plan.environment,
        "sticky_by": plan.sticky_by,
        "arms": [arm(a) for a in plan.arms],
        "shadow": None if plan.shadow is None else arm(plan.shadow),
    }
