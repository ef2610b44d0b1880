"""The SDK's prompt fetch: a local cache with TTL, stale-while-revalidate, and serving
the last good version while the server is down (a real server on loopback, stopped)."""

from __future__ import annotations

import asyncio
import time

import pytest

from llmloop import aconnect, connect
from llmloop.errors import NotFoundError, ValidationError
from llmloop.sdk.client import Client
from support import LiveServer

MESSAGES = [
    {"role": "system", "content": "Reply in {{ lang }}."},
    {"role": "user", "content": "{{ question }}"},
]


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def remote(server: LiveServer) -> Client:
    tenant = server.tenant("sdk-prompts")
    return connect(server.url, api_key=tenant.secret("editor"), project=tenant.project.name)


def test_fetch_is_cached_revalidated_and_survives_the_server_going_down(
    live_server: LiveServer,
) -> None:
    client = remote(live_server)
    prompts = client.prompts
    prompts.cache.ttl_s = 0.3
    first = prompts.create("answer", messages=MESSAGES, labels=["production"], message="v1")
    assert first.created and first.version.number == 1
    fetched = prompts.fetch("answer")
    assert fetched.id == first.version.id
    assert prompts.render("answer", {"lang": "French", "question": "Hi?"}) == [
        {"role": "system", "content": "Reply in French."},
        {"role": "user", "content": "Hi?"},
    ]
    # a new version labeled production: the fresh cache still answers v1 ...
    second = prompts.create(
        "answer", messages=[*MESSAGES, {"role": "assistant", "content": "!"}], labels=["production"]
    )
    assert prompts.fetch("answer").number == 1
    # ... once stale it is served at once while a refresh runs, then v2 arrives
    time.sleep(0.35)
    assert prompts.fetch("answer").number == 1
    wait_for(lambda: prompts.fetch("answer").id == second.version.id)

    live_server.stop()
    time.sleep(0.35)
    for _ in range(3):  # stale, refresh fails in the background, last good version served
        assert prompts.fetch("answer").id == second.version.id
        time.sleep(0.1)
    wait_for(lambda: prompts.cache.refresh_failures >= 1)
    assert prompts.render("answer", {"lang": "German", "question": "Q"})[0]["content"] == (
        "Reply in German."
    )
    with pytest.raises(ValidationError, match="missing required variable\\(s\\) 'question'"):
        prompts.render("answer", {"lang": "German"})
    client.close()


def test_uncached_fetch_errors_propagate(live_server: LiveServer) -> None:
    with remote(live_server) as client:
        with pytest.raises(NotFoundError, match="prompt 'nope' not found"):
            client.prompts.fetch("nope")
        client.prompts.create("p", text="{{ x }}")
        with pytest.raises(NotFoundError, match="has no version 'production'"):
            client.prompts.fetch("p")
        assert client.prompts.fetch("p", "latest").number == 1
        assert client.prompts.fetch("p", "v1").text == "{{ x }}"


def test_registry_operations_through_the_sdk(live_server: LiveServer) -> None:
    with remote(live_server) as client:
        client.prompts.create("triage", messages=MESSAGES, params={"temperature": 0})
        client.prompts.create("triage", messages=MESSAGES, params={"temperature": 1})
        client.prompts.label("triage", "staging", "v1", reason="hold")
        assert [v.number for v in client.prompts.versions("triage")] == [2, 1]
        assert client.prompts.version("triage", "staging").number == 1
        diff = client.prompts.diff("triage", "v1", "v2")
        assert [(c.key, c.before, c.after) for c in diff.params] == [("temperature", 0, 1)]
        summary = client.prompts.get("triage")
        assert {lb.name for lb in summary.labels} == {"latest", "staging"}
        version = client.deployments.create(
            "qa", "scripted/m", prompt="triage", prompt_version="staging", fallbacks=["scripted/b"]
        )
        assert version.number == 1
        plan = client.deployments.plan("qa")
        assert plan["arms"][0]["params"] == {"temperature": 0}
        client.deployments.create("qa", "scripted/n")
        summary_d = client.deployments.split("qa", {"stable": 3, "v2": 1}, sticky_by="user")
        assert summary_d.arms == {"v1": 0.75, "v2": 0.25}
        report = client.deployments.ab("qa")
        assert [a.arm for a in report.arms] == ["v1", "v2"] and report.control == "v1"
        moved = client.deployments.rollback("qa", "drop the canary")
        assert moved.removed_arms == ["v2"]
        assert client.deployments.promote("qa", "v2", "try it").stable.number == 2


async def test_async_fetch_with_background_refresh(live_server: LiveServer) -> None:
    tenant = live_server.tenant("async-prompts")
    client = await aconnect(
        live_server.url, api_key=tenant.secret("editor"), project=tenant.project.name
    )
    try:
        client.prompts.cache.ttl_s = 0.2
        await client.prompts.create("a", text="one {{ x }}", labels=["production"])
        assert (await client.prompts.render("a", {"x": "1"}))[0]["content"] == "one 1"
        await client.prompts.create("a", text="two {{ x }}", labels=["production"])
        await asyncio.sleep(0.25)
        assert (await client.prompts.fetch("a")).number == 1  # stale, refresh started
        for _ in range(100):
            if (await client.prompts.fetch("a")).number == 2:
                break
            await asyncio.sleep(0.02)
        assert (await client.prompts.render("a", {"x": "2"}))[0]["content"] == "two 2"
        deployments = await client.deployments.list()
        assert deployments == []
    finally:
        await client.aclose()
