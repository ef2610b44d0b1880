"""The server runs deployment policies in the background every LLMLOOP_POLICY_INTERVAL_S."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ab_traffic import record_arm

from llmloop.deployments.policies import start_policy_task
from llmloop.deployments.service import ArmWeight, Deployments, VersionSpec
from llmloop.settings import Settings
from llmloop.store.deployments import PolicyConfig
from support import LiveServer

ACTOR = "key:test"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=db_url, policy_interval_s=0.2)


def test_background_task_rolls_back_a_failing_canary(live_server: LiveServer) -> None:
    runtime = live_server.runtime
    project = runtime.tenancy.ensure_project("loop")
    deployments = Deployments(runtime.db, runtime.tenancy.audit)
    for model in ("scripted/stable", "scripted/canary"):
        spec = VersionSpec(model=model)
        deployments.create_version(project.id, "triage", spec, actor=ACTOR, create=True)
    split = [ArmWeight(version="v1", weight=9), ArmWeight(version="v2", weight=1)]
    deployments.set_routing(project.id, "triage", split, actor=ACTOR)
    policy = PolicyConfig(auto_rollback=True, min_samples=50)
    deployments.set_policy(project.id, "triage", policy, actor=ACTOR)
    assert [a.name for a in runtime.deployment_plans.plan(project.id, "triage", None).arms] == [
        "v1",
        "v2",
    ]
    record_arm(runtime.db, project.id, "triage", "v1", n=300, errors=3)
    record_arm(runtime.db, project.id, "triage", "v2", n=60, errors=20)
    deadline = time.monotonic() + 20
    while deployments.summary(project.id, "triage").arms != {"v1": 1.0}:
        assert time.monotonic() < deadline, "the policy loop did not roll the canary back"
        time.sleep(0.05)
    event = runtime.tenancy.audit.list(project.id, object_type="deployment")[0]
    assert (event.action, event.actor) == ("deployment.rollback", "policy")
    assert "error_rate" in (event.reason or "")
    # the server's cached plan was dropped by the move: the canary is gone at once
    assert [a.name for a in runtime.deployment_plans.plan(project.id, "triage", None).arms] == [
        "v1"
    ]


async def test_interval_zero_starts_no_task() -> None:
    assert start_policy_task(lambda: None, 0) is None  # type: ignore[arg-type, return-value]
