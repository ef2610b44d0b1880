"""End to end: the official openai SDK calls deployment/<name> through the gateway, which
routes by our route plans (sticky users, rendered prompt); the traces it records feed the
A/B report, and the policy rolls back a canary whose upstream fails."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from llmloop.deployments.analysis import analyse
from llmloop.deployments.policies import evaluate_policies
from llmloop.deployments.service import ArmWeight, VersionSpec
from llmloop.prompts.service import Prompts
from llmloop.server.api.deployments import deployments_of
from llmloop.settings import Settings
from llmloop.store.deployments import PolicyConfig
from llmloop.store.prompts import PromptContent
from llmloop.testing import ScriptedUpstream
from support import LiveServer

ACTOR = "key:test"


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, database_url=db_url, max_retries=0, gateway_retry_backoff_s=0.0,
        gateway_breaker_failures=10_000, policy_interval_s=0,
    )  # fmt: skip


def test_sticky_split_traces_and_canary_rollback(
    live_server: LiveServer, upstream: ScriptedUpstream
) -> None:
    runtime = live_server.runtime
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    tenant = live_server.tenant("e2e")
    project_id = tenant.project.id
    content = PromptContent(
        kind="chat",
        messages=[
            {"role": "system", "content": "Classify the ticket."},  # type: ignore[list-item]
            {"role": "user", "content": "Ticket: {{ ticket }}"},  # type: ignore[list-item]
        ],
    )
    Prompts(runtime.db, runtime.tenancy.audit).commit(
        project_id, "triage", content, actor=ACTOR, create=True
    )
    deployments = deployments_of(runtime)
    for model in ("scripted/stable", "scripted/canary"):
        spec = VersionSpec(prompt="triage", model=model)
        deployments.create_version(project_id, "triage", spec, actor=ACTOR, create=True)
    split = [ArmWeight(version="v1", weight=1), ArmWeight(version="v2", weight=1)]
    deployments.set_routing(project_id, "triage", split, sticky_by="user", actor=ACTOR)
    policy = PolicyConfig(auto_rollback=True, min_samples=20, alpha=0.01)
    deployments.set_policy(project_id, "triage", policy, actor=ACTOR)
    upstream.script(status=500, model="canary", times=None)  # the canary's upstream fails

    client = openai.OpenAI(
        base_url=f"{live_server.url}/v1", api_key=tenant.secret("editor"), max_retries=0
    )
    arms: dict[str, str] = {}
    outcomes: Counter[tuple[str, int]] = Counter()
    for round_ in range(2):
        for i in range(60):
            user = f"user-{i}"
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model="deployment/triage", messages=[], user=user,
                    extra_body={"variables": {"ticket": f"ticket {i}"}},
                )  # fmt: skip
                arm, status = raw.headers["x-llmloop-arm"], raw.http_response.status_code
            except openai.APIStatusError as exc:  # the arm from the model the upstream saw
                arm, status = (
                    {"stable": "v1", "canary": "v2"}[upstream.requests[-1].model],
                    (exc.status_code),
                )
            outcomes[(arm, status)] += 1
            if round_ == 1:
                assert arms[user] == arm, user  # sticky: the same user, the same arm
            arms[user] = arm
    client.close()
    users = Counter(arms.values())
    assert users["v1"] > 10 and users["v2"] > 10
    assert outcomes == {("v1", 200): 2 * users["v1"], ("v2", 502): 2 * users["v2"]}
    # every stable call rendered the prompt and reached the stable model
    stable_calls = [r for r in upstream.requests if r.model == "stable"]
    assert stable_calls[0].body["messages"][0] == {
        "role": "system",
        "content": "Classify the ticket.",
    }
    assert stable_calls[0].body["messages"][1]["content"].startswith("Ticket: ticket ")

    deployment = deployments.get(project_id, "triage")
    deadline = time.monotonic() + 20
    while True:  # the gateway writes traces in the background
        report = analyse(deployments, deployment)
        if sum(a.requests for a in report.arms) >= 120 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    counts = {a.arm: (a.requests, a.errors) for a in report.arms}
    assert counts["v1"] == (2 * users["v1"], 0)
    assert counts["v2"] == (2 * users["v2"], 2 * users["v2"])
    (action,) = evaluate_policies(deployments, project_id)
    assert (action.action, action.arm) == ("rollback", "v2")
    assert runtime.deployment_plans.plan(project_id, "triage", None).arms[0].name == "v1"
    assert len(runtime.deployment_plans.plan(project_id, "triage", None).arms) == 1
