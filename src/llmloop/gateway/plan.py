"""What the gateway needs to know to serve one ``model`` name: the route plan.

A plan is plain data, built by whoever owns the name (a deployment's current
version, or a bare provider model) and cached by the gateway. The gateway never
reads the prompt or deployment tables on the hot path; it asks a
:class:`PlanSource` and keeps the answer for a short TTL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# variables from the request -> chat messages (OpenAI shape); raises
# llmloop.errors.ValidationError naming a missing or mistyped variable.
Renderer = Callable[[Mapping[str, Any]], list[dict[str, Any]]]

StickyBy = Literal["user", "session"]


@dataclass(frozen=True, slots=True)
class Arm:
    """One destination of a route: a deployment version, or a bare model."""

    name: str  # stable label recorded on traces and used in A/B analysis, e.g. "v3"
    model: str  # provider model reference as the ProviderRegistry understands it
    weight: float = 1.0  # share of traffic relative to the other arms
    params: Mapping[str, Any] = field(default_factory=dict)  # defaults under the request's
    render: Renderer | None = None  # None: the request's messages pass through
    fallbacks: tuple[str, ...] = ()  # model references tried in order after failures
    fallback_on_refusal: bool = False  # also fall back on a content-policy refusal
    guardrails: Mapping[str, Any] = field(default_factory=dict)
    version_id: str | None = None  # the deployment version behind this arm, if any


@dataclass(frozen=True, slots=True)
class RoutePlan:
    model: str  # the name the caller used, e.g. "deployment/ticket-triage" or "gpt-4o-mini"
    arms: tuple[Arm, ...]
    deployment: str | None = None
    environment: str | None = None
    sticky_by: StickyBy | None = None  # sticky assignment key for weighted splits
    shadow: Arm | None = None  # receives a copy of each request; answer not returned

    @classmethod
    def direct(cls, model: str) -> RoutePlan:
        return cls(model=model, arms=(Arm(name=model, model=model),))


class PlanSource(Protocol):
    """Resolves ``deployment/<name>`` for one project; implemented by deployments."""

    def plan(self, project_id: str, deployment: str, environment: str | None) -> RoutePlan:
        """The current plan, or raise :class:`llmloop.errors.NotFoundError`."""
        ...
