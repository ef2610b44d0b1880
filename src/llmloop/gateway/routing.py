"""From the request's ``model`` to the arm that serves it.

``deployment/<name>`` asks the deployments' :class:`~llmloop.gateway.plan.PlanSource`
(cached for a few seconds, so the hot path reads no table); any other name is a bare
model served by :meth:`RoutePlan.direct`. Among a plan's arms one is chosen by weight:
at random, or, when the plan is sticky, by a hash of the user or session so that the
same caller keeps getting the same arm.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable
from typing import Any

from llmloop.errors import LlmloopError, NotFoundError
from llmloop.errors import ValidationError as LlmloopValidationError
from llmloop.gateway.errors import GatewayError
from llmloop.gateway.plan import Arm, PlanSource, RoutePlan
from llmloop.gateway.requests import CallMeta

__all__ = ["DEPLOYMENT_PREFIX", "Router", "choose_arm", "render_messages"]

DEPLOYMENT_PREFIX = "deployment/"
_MAX_PLANS = 10_000


def _not_found(model: str, why: str) -> GatewayError:
    return GatewayError(
        404, f"model {model!r} not found: {why}", code="model_not_found", param="model"
    )


class Router:
    """Plans by (project, model, environment), each kept ``ttl_s`` seconds."""

    def __init__(self, source: Callable[[], PlanSource | None], ttl_s: float = 5.0) -> None:
        self._source = source
        self.ttl_s = ttl_s
        self._plans: dict[tuple[str, str, str | None], tuple[float, RoutePlan]] = {}
        self._direct: dict[str, RoutePlan] = {}
        self._generation: int | None = None

    async def plan(self, project_id: str, model: str, environment: str | None) -> RoutePlan:
        if not model.startswith(DEPLOYMENT_PREFIX):
            direct = self._direct.get(model)
            if direct is None:
                if len(self._direct) >= _MAX_PLANS:
                    self._direct.clear()
                direct = self._direct[model] = RoutePlan.direct(model)
            return direct
        key = (project_id, model, environment)
        now = time.monotonic()
        # A source that counts its invalidations (deployments do) makes a promote or a
        # rollback in this process visible to the next call, not after the TTL.
        generation = getattr(self._source(), "generation", None)
        if generation != self._generation:
            self._plans.clear()
            self._generation = generation
        cached = self._plans.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        plan = await self._resolve(project_id, model, environment)
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        self._plans[key] = (now + self.ttl_s, plan)
        return plan

    async def _resolve(self, project_id: str, model: str, environment: str | None) -> RoutePlan:
        name = model.removeprefix(DEPLOYMENT_PREFIX)
        source = self._source()
        if source is None:
            raise _not_found(model, "this server has no deployments")
        try:
            plan = await asyncio.to_thread(source.plan, project_id, name, environment)
        except NotFoundError as exc:
            raise _not_found(model, exc.message) from None
        except LlmloopError as exc:
            raise GatewayError(
                400 if exc.status < 500 else 500, exc.message, code=exc.code
            ) from None
        if not plan.arms:
            raise _not_found(model, "the deployment has no arm to route to")
        return plan

    def forget(self) -> None:
        self._plans.clear()


def _unit(text: str) -> float:
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def choose_arm(plan: RoutePlan, meta: CallMeta, rng: Callable[[], float] = random.random) -> Arm:
    arms = plan.arms
    if len(arms) == 1:
        return arms[0]
    total = sum(max(0.0, a.weight) for a in arms)
    if total <= 0:
        return arms[0]
    sticky = None
    if plan.sticky_by == "user":
        sticky = meta.user
    elif plan.sticky_by == "session":
        sticky = meta.session or meta.user
    point = (_unit(f"{plan.deployment or plan.model}\0{sticky}") if sticky else rng()) * total
    for arm in arms:
        point -= max(0.0, arm.weight)
        if point < 0:
            return arm
    return arms[-1]


def render_messages(arm: Arm, meta: CallMeta, body: dict[str, Any]) -> list[Any]:
    """The messages to send: the arm's rendered prompt, then the caller's messages."""
    messages = body.get("messages") or []
    if arm.render is None:
        if not messages:
            raise GatewayError(
                400,
                f"arm {arm.name!r} has no prompt to render; send 'messages'",
                param="messages",
                code="missing_required_parameter",
            )
        return list(messages)
    try:
        rendered = arm.render(meta.variables or {})
    except LlmloopValidationError as exc:
        param = "variables"
        if isinstance(exc.details, list) and exc.details and isinstance(exc.details[0], dict):
            field = exc.details[0].get("field")
            param = (
                f"variables.{field}"
                if field and not str(field).startswith("variables")
                else (field or param)
            )
        raise GatewayError(400, exc.message, param=param, code="invalid_variables") from None
    return [*rendered, *messages]
