"""Automatic promotion and rollback from A/B statistics, and the loop that runs them.

For each deployment with a policy and more than one arm, the A/B report since the split
was set is computed. Once both the control and a candidate arm have ``min_samples``
requests: a candidate significantly worse on any watched metric is rolled back
(``auto_rollback``); one significantly better on a watched metric and worse on none is
promoted (``auto_promote``). Each move goes through :class:`Deployments` and so into
the audit log, with the numbers in the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Literal

from llmloop.deployments.analysis import ABReport, Comparison, analyse, canonical_metric
from llmloop.deployments.service import Deployments
from llmloop.records import Frozen
from llmloop.store.deployments import Deployment, PolicyConfig

log = logging.getLogger("llmloop.deployments.policies")
POLICY_ACTOR = "policy"


class PolicyDecision(Frozen):
    action: Literal["rollback", "promote"]
    arm: str
    reason: str


class PolicyAction(PolicyDecision):
    project_id: str
    deployment: str
    environment: str


def decide(report: ABReport, policy: PolicyConfig) -> PolicyDecision | None:
    """The move ``policy`` calls for given ``report``, if any (rollbacks first)."""
    watched = {canonical_metric(m) for m in policy.metrics}
    by_arm: dict[str, list[Comparison]] = {}
    for c in report.comparisons:
        if c.metric in watched:
            by_arm.setdefault(c.arm, []).append(c)
    counts = {a.arm: a.requests for a in report.arms}
    control_n = counts.get(report.control or "", 0)
    promote: PolicyDecision | None = None
    for arm, comparisons in by_arm.items():
        if min(control_n, counts.get(arm, 0)) < policy.min_samples:
            continue
        worse = [c for c in comparisons if c.verdict == "worse"]
        better = [c for c in comparisons if c.verdict == "better"]
        if worse and policy.auto_rollback:
            return PolicyDecision(
                action="rollback",
                arm=arm,
                reason=_reason(
                    f"auto-rollback of {arm}: significantly worse than {report.control}",
                    worse,
                    policy,
                ),
            )
        if better and not worse and policy.auto_promote and promote is None:
            promote = PolicyDecision(
                action="promote",
                arm=arm,
                reason=_reason(
                    f"auto-promote of {arm}: significantly better than {report.control}",
                    better,
                    policy,
                ),
            )
    return promote


def _reason(head: str, comparisons: list[Comparison], policy: PolicyConfig) -> str:
    details = "; ".join(c.describe() for c in comparisons)
    return f"{head}: {details}; alpha {policy.alpha}, min {policy.min_samples} per arm"


def evaluate_deployment(deployments: Deployments, deployment: Deployment) -> PolicyAction | None:
    policy = deployment.policy
    if not (policy.auto_rollback or policy.auto_promote) or len(deployment.routing.split) < 2:
        return None
    decision = decide(analyse(deployments, deployment), policy)
    if decision is None:
        return None
    common = {
        "actor": POLICY_ACTOR,
        "reason": decision.reason,
        "environment": deployment.environment,
    }
    if decision.action == "rollback":
        deployments.rollback(deployment.project_id, deployment.name, canary=decision.arm, **common)
    else:
        deployments.promote(deployment.project_id, deployment.name, decision.arm, **common)
    log.info(
        "%s %s (%s): %s", decision.action, deployment.name, deployment.environment, decision.reason
    )
    return PolicyAction(
        **decision.model_dump(),
        project_id=deployment.project_id,
        deployment=deployment.name,
        environment=deployment.environment,
    )


def evaluate_policies(
    deployments: Deployments, project_id: str | None = None
) -> list[PolicyAction]:
    """Apply every deployment's policy once (one project, or all); return the moves made.

    A deployment whose evaluation fails is logged and skipped; the others still run.
    """
    actions: list[PolicyAction] = []
    for deployment in deployments.repo.list(project_id):
        try:
            action = evaluate_deployment(deployments, deployment)
        except Exception:  # one broken deployment must not stop the others' policies
            log.exception(
                "policy evaluation of %s (%s) failed", deployment.name, deployment.environment
            )
            continue
        if action is not None:
            actions.append(action)
    return actions


async def run_periodically(evaluate: Callable[[], list[PolicyAction]], interval_s: float) -> None:
    """Call ``evaluate`` in a worker thread every ``interval_s`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(evaluate)
        except Exception:  # keep the loop alive; the next round may succeed
            log.exception("policy evaluation round failed")


def start_policy_task(
    deployments_factory: Callable[[], Deployments], interval_s: float
) -> asyncio.Task[None] | None:
    """The background task evaluating policies every ``interval_s`` (None when 0)."""
    if interval_s <= 0:
        return None

    def evaluate() -> list[PolicyAction]:
        return evaluate_policies(deployments_factory())

    return asyncio.create_task(run_periodically(evaluate, interval_s), name="llmloop-policies")
