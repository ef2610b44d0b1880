"""Deployments: versioned bindings of a prompt version, model and parameters per
environment; stages, promotion and rollback as audited pointer moves; weighted routing
with A/B statistics and automatic policies; route plans for the gateway."""

from __future__ import annotations

from llmloop.deployments.plans import DeploymentPlans
from llmloop.deployments.service import Deployments, VersionSpec

__all__ = ["DeploymentPlans", "Deployments", "VersionSpec"]
