"""A/B statistics per arm from traces and scores, and the policies that act on them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from ab_traffic import record_arm
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats

from llmloop.deployments import statistics
from llmloop.deployments.analysis import analyse
from llmloop.deployments.policies import evaluate_policies
from llmloop.deployments.service import ArmWeight, Deployments, VersionSpec
from llmloop.runtime import Runtime
from llmloop.store.deployments import PolicyConfig
from support import Tenant

ACTOR = "key:test"


def canary(runtime: Runtime, project_id: str, *, policy: PolicyConfig | None = None) -> Deployments:
    deployments = Deployments(
        runtime.db, runtime.tenancy.audit, on_change=runtime.deployment_plans.invalidate
    )
    for model in ("scripted/stable", "scripted/canary"):
        deployments.create_version(
            project_id, "triage", VersionSpec(model=model), actor=ACTOR, create=True
        )
    deployments.set_routing(
        project_id,
        "triage",
        [ArmWeight(version="v1", weight=80), ArmWeight(version="v2", weight=20)],
        sticky_by="user",
        actor=ACTOR,
        reason="canary",
    )
    if policy is not None:
        deployments.set_policy(project_id, "triage", policy, actor=ACTOR)
    return deployments


# --------------------------------------------------------------------------- statistics


def test_two_proportion_matches_the_textbook_z_test() -> None:
    result = statistics.two_proportion(10, 400, 30, 380, alpha=0.05)
    p1, p2, pooled = 10 / 400, 30 / 380, 40 / 780
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / 400 + 1 / 380))
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert result.diff == pytest.approx(p2 - p1)
    assert result.low < result.diff < result.high
    assert result.low > 0  # clearly worse: the interval excludes 0
    # n per arm for 80% power at alpha 0.05 (Fleiss, no continuity correction), by hand:
    # (1.95996 * sqrt(2 * .05197 * .94803) + .84162 * sqrt(.024375 + .072715))^2 / .053947^2
    assert result.needed_per_arm == 265


def test_welch_matches_scipy_and_the_interval_covers_the_difference() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(100, 10, 300), rng.normal(104, 25, 200)
    result = statistics.welch(a, b)
    assert result.p_value == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    assert result.low < b.mean() - a.mean() < result.high
    assert result.needed_per_arm is not None and result.needed_per_arm > 2


@settings(max_examples=60, deadline=None)
@given(
    n1=st.integers(1, 500),
    n2=st.integers(1, 500),
    f1=st.floats(0, 1),
    f2=st.floats(0, 1),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
)
def test_two_proportion_invariants(n1: int, n2: int, f1: float, f2: float, alpha: float) -> None:
    x1, x2 = round(f1 * n1), round(f2 * n2)
    result = statistics.two_proportion(x1, n1, x2, n2, alpha=alpha, resamples=200)
    assert 0.0 <= result.p_value <= 1.0
    assert result.low <= result.high
    assert result.low >= -1.0 and result.high <= 1.0
    swapped = statistics.two_proportion(x2, n2, x1, n1, alpha=alpha, resamples=200)
    assert swapped.p_value == pytest.approx(result.p_value)
    assert swapped.diff == pytest.approx(-result.diff)
    if x1 * n2 == x2 * n1:
        assert result.needed_per_arm is None


@settings(max_examples=40, deadline=None)
@given(
    a=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=40),
    b=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=40),
)
@example(a=[0.0, 0.0], b=[0.0, 7.8e-308])  # a difference too small to square
def test_welch_invariants(a: list[float], b: list[float]) -> None:
    result = statistics.welch(np.array(a), np.array(b), resamples=100)
    assert 0.0 <= result.p_value <= 1.0 or math.isnan(result.p_value)
    assert result.low <= result.high + 1e-9
    assert result.diff == pytest.approx(np.mean(b) - np.mean(a), abs=1e-6)


# --------------------------------------------------------------------------- per-arm stats


def test_report_per_arm_from_traces_and_scores(runtime: Runtime) -> None:
    project = runtime.tenancy.ensure_project("ab")
    deployments = canary(runtime, project.id)
    record_arm(
        runtime.db,
        project.id,
        "triage",
        "v1",
        n=200,
        errors=4,
        latency_ms=np.linspace(50, 150, 200),
        cost_usd=0.002,
        feedback=[i % 4 != 0 for i in range(200)],
        rating=[4.0] * 100 + [5.0] * 100,
    )
    record_arm(
        runtime.db,
        project.id,
        "triage",
        "v2",
        n=100,
        errors=20,
        latency_ms=300.0,
        cost_usd=0.001,
        feedback=[i % 2 == 0 for i in range(100)],
        rating=[3.0] * 100,
    )
    # other deployments, environments and arms are not counted
    record_arm(runtime.db, project.id, "triage", "v2", n=30, errors=30, environment="staging")
    record_arm(runtime.db, project.id, "other", "v2", n=30, errors=30)
    report = analyse(deployments, deployments.get(project.id, "triage"))
    v1, v2 = report.arms
    assert (v1.arm, v1.share, v1.requests, v1.errors) == ("v1", 0.8, 200, 4)
    assert (v2.arm, v2.share, v2.requests, v2.errors) == ("v2", 0.2, 100, 20)
    assert v1.error_rate == pytest.approx(0.02) and v2.error_rate == pytest.approx(0.2)
    assert v1.latency_p50_ms == pytest.approx(100.0)
    assert v1.latency_p95_ms == pytest.approx(np.percentile(np.linspace(50, 150, 200), 95))
    assert v2.latency_p95_ms == pytest.approx(300.0)
    assert v1.cost_mean_usd == pytest.approx(0.002) and v1.tokens_mean == 15
    assert v1.scores["feedback"].kind == "boolean" and v1.scores["feedback"].mean == 0.75
    assert v2.scores["rating"].kind == "numeric" and v2.scores["rating"].mean == 3.0
    assert report.control == "v1"
    found = {c.metric: c for c in report.comparisons}
    assert set(found) == {"error_rate", "latency_ms", "cost_usd", "score:feedback", "score:rating"}
    errors = found["error_rate"]
    assert errors.test == "two-proportion z-test" and errors.verdict == "worse"
    assert errors.diff == pytest.approx(0.18) and errors.ci_low > 0
    assert errors.p_value == pytest.approx(statistics.two_proportion(4, 200, 20, 100).p_value)
    assert found["latency_ms"].verdict == "worse" and found["latency_ms"].test == "Welch's t-test"
    assert found["cost_usd"].verdict == "better"
    assert found["score:feedback"].verdict == "worse"
    assert found["score:rating"].verdict == "worse"
    assert errors.still_needed == 0


def test_report_window_starts_when_the_split_was_set(runtime: Runtime) -> None:
    project = runtime.tenancy.ensure_project("ab")
    deployments = canary(runtime, project.id)
    old = datetime.now(UTC) - timedelta(hours=1)
    record_arm(runtime.db, project.id, "triage", "v2", n=50, errors=50, start=old)
    record_arm(runtime.db, project.id, "triage", "v2", n=10)
    report = analyse(deployments, deployments.get(project.id, "triage"))
    assert [(a.arm, a.requests) for a in report.arms] == [("v1", 0), ("v2", 10)]
    everything = analyse(deployments, deployments.get(project.id, "triage"), since=old)
    assert everything.arms[1].requests == 60


# --------------------------------------------------------------------------- policies


def test_canary_auto_rollback_under_injected_errors(runtime: Runtime) -> None:
    project = runtime.tenancy.ensure_project("ab")
    policy = PolicyConfig(auto_rollback=True, min_samples=100, alpha=0.01)
    deployments = canary(runtime, project.id, policy=policy)
    record_arm(runtime.db, project.id, "triage", "v1", n=400, errors=4)
    record_arm(runtime.db, project.id, "triage", "v2", n=60, errors=30)
    assert evaluate_policies(deployments) == []  # below the minimum sample: no move
    record_arm(runtime.db, project.id, "triage", "v2", n=60, errors=6)
    (action,) = evaluate_policies(deployments)
    assert (action.action, action.arm, action.deployment) == ("rollback", "v2", "triage")
    summary = deployments.summary(project.id, "triage")
    assert summary.arms == {"v1": 1.0}
    event = runtime.tenancy.audit.list(project.id, object_type="deployment")[0]
    assert (event.action, event.actor) == ("deployment.rollback", "policy")
    assert event.data["removed_arms"] == ["v2"]
    reason = event.reason or ""
    assert reason.startswith("auto-rollback of v2: significantly worse than v1: error_rate 0.3 ")
    assert "vs 0.01 on v1" in reason and "p=" in reason and "CI [" in reason
    assert "n=120/400" in reason and "alpha 0.01" in reason
    plan = runtime.deployment_plans.plan(project.id, "triage", None)
    assert [a.name for a in plan.arms] == ["v1"]
    assert evaluate_policies(deployments) == []  # nothing left to act on


def test_auto_promote_when_significantly_better_on_a_watched_score(runtime: Runtime) -> None:
    project = runtime.tenancy.ensure_project("ab")
    policy = PolicyConfig(
        auto_promote=True, auto_rollback=True, min_samples=150, metrics=["error_rate", "feedback"]
    )
    deployments = canary(runtime, project.id, policy=policy)
    record_arm(
        runtime.db,
        project.id,
        "triage",
        "v1",
        n=300,
        errors=3,
        feedback=[i % 2 == 0 for i in range(300)],
    )
    record_arm(
        runtime.db,
        project.id,
        "triage",
        "v2",
        n=200,
        errors=2,
        feedback=[i % 10 != 0 for i in range(200)],
    )
    (action,) = evaluate_policies(deployments, project.id)
    assert (action.action, action.arm) == ("promote", "v2")
    assert "score:feedback 0.9 on v2 vs 0.5 on v1" in action.reason
    summary = deployments.summary(project.id, "triage")
    assert summary.stable is not None and summary.stable.number == 2
    assert summary.arms == {"v2": 1.0}
    event = runtime.tenancy.audit.list(project.id, object_type="deployment")[0]
    assert event.action == "deployment.alias" and event.data["alias"] == "previous"


def test_no_move_without_a_policy_or_without_significance(runtime: Runtime) -> None:
    project = runtime.tenancy.ensure_project("ab")
    deployments = canary(runtime, project.id)
    record_arm(runtime.db, project.id, "triage", "v1", n=200, errors=2)
    record_arm(runtime.db, project.id, "triage", "v2", n=200, errors=100)
    assert evaluate_policies(deployments) == []  # no policy configured
    deployments.set_policy(
        project.id,
        "triage",
        PolicyConfig(auto_rollback=True, auto_promote=True, min_samples=10),
        actor=ACTOR,
    )
    other = runtime.tenancy.ensure_project("ab-two")
    calm = canary(runtime, other.id, policy=PolicyConfig(auto_rollback=True, min_samples=10))
    record_arm(runtime.db, other.id, "triage", "v1", n=100, errors=5)
    record_arm(runtime.db, other.id, "triage", "v2", n=100, errors=6)
    actions = evaluate_policies(calm)
    assert [(a.project_id, a.action) for a in actions] == [(project.id, "rollback")]


def test_ab_endpoint_and_policy_run_over_http(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    canary(runtime, tenant.project.id, policy=PolicyConfig(auto_rollback=True, min_samples=20))
    record_arm(runtime.db, tenant.project.id, "triage", "v1", n=100, errors=1)
    record_arm(runtime.db, tenant.project.id, "triage", "v2", n=40, errors=20)
    url = f"/api/v1/projects/{tenant.project.name}/deployments"
    report = client.get(f"{url}/triage/ab", headers=tenant.headers("viewer")).json()
    assert report["control"] == "v1"
    assert [a["requests"] for a in report["arms"]] == [100, 40]
    assert {c["metric"]: c["verdict"] for c in report["comparisons"]}["error_rate"] == "worse"
    viewer = client.post(f"{url}/evaluate-policies", headers=tenant.headers("viewer"))
    assert viewer.status_code == 403
    ran = client.post(f"{url}/evaluate-policies", headers=tenant.headers("editor"))
    assert [a["action"] for a in ran.json()] == ["rollback"]
    bad = client.get(f"{url}/triage/ab", params={"alpha": 2}, headers=tenant.headers())
    assert bad.status_code == 422
