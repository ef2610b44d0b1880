"""Upstream faults: retries, fallbacks, refusals, circuit breaker, broken and abandoned
streams; the caller gets a clean OpenAI-format answer and the trace says what happened."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from gw_support import Plans, chat, openai_error, wait_for_trace

from llmloop.gateway.plan import Arm, RoutePlan
from llmloop.runtime import Runtime
from llmloop.testing import ScriptedUpstream
from support import LiveServer, Tenant

PRIMARY = "openai/gpt-4o-mini"
BACKUP = "backup/gpt-4o-mini"
POLICY = {"code": "content_policy_violation", "message": "flagged by the safety system"}


def with_fallback(plans: Plans, *, on_refusal: bool = False) -> str:
    arm = Arm("v1", PRIMARY, fallbacks=(BACKUP,), fallback_on_refusal=on_refusal)
    plans.plans["triage"] = RoutePlan(model="deployment/triage", arms=(arm,))
    return "deployment/triage"


def events(response: httpx.Response) -> list[dict]:
    out = []
    for line in response.iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[6:]))
    return out


def test_rate_limit_is_retried_after_retry_after(
    gw: httpx.Client, upstream: ScriptedUpstream, runtime: Runtime, acme: Tenant
) -> None:
    upstream.script(status=429, headers={"Retry-After": "0.2"})
    response = chat(gw)
    assert response.status_code == 200, response.text
    first, second = upstream.requests
    assert second.received_at - first.received_at >= 0.18
    detail = wait_for_trace(runtime, acme.project.id, response.headers["x-llmloop-trace-id"])
    attempts = [n.span for n in detail.spans[0].children]
    assert [a.status for a in attempts] == ["error", "ok"]
    assert attempts[0].attributes["llmloop.error.kind"] == "rate_limit"
    assert attempts[0].attributes["http.response.status_code"] == 429


def test_server_errors_fall_back_and_are_traced(
    gw: httpx.Client,
    upstream: ScriptedUpstream,
    backup: ScriptedUpstream,
    plans: Plans,
    runtime: Runtime,
    acme: Tenant,
) -> None:
    upstream.script(status=500, times=2)
    response = chat(gw, model=with_fallback(plans))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "from backup"
    assert len(upstream.requests) == 2 and len(backup.requests) == 1  # 1 retry, then fallback
    detail = wait_for_trace(runtime, acme.project.id, response.headers["x-llmloop-trace-id"])
    root = detail.spans[0].span
    assert root.status == "ok" and root.provider == "backup"
    assert [e["name"] for e in root.events] == ["retry", "fallback"]
    assert [(n.span.provider, n.span.status) for n in detail.spans[0].children] == [
        ("openai", "error"), ("openai", "error"), ("backup", "ok"),
    ]  # fmt: skip


def test_timeouts_fall_back(
    gw: httpx.Client, upstream: ScriptedUpstream, backup: ScriptedUpstream, plans: Plans
) -> None:
    upstream.script(latency_ms=1500, times=2)  # the request timeout is 1 s
    started = time.monotonic()
    response = chat(gw, model=with_fallback(plans))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "from backup"
    assert time.monotonic() - started < 4


def test_all_upstreams_failing_is_a_clean_502(
    gw: httpx.Client, upstream: ScriptedUpstream, backup: ScriptedUpstream, plans: Plans
) -> None:
    upstream.script(status=503, times=None)
    backup.script(status=500, times=None)
    error = openai_error(chat(gw, model=with_fallback(plans)), 502)
    assert error["type"] == "api_error" and error["code"] == "upstream_error"
    assert "backup" in error["message"]


def test_connection_reset_is_retried(gw: httpx.Client, upstream: ScriptedUpstream) -> None:
    upstream.script(drop=True)
    response = chat(gw)
    assert response.status_code == 200, response.text
    assert len(upstream.requests) == 2


def test_context_window_overflow_falls_back(
    gw: httpx.Client, upstream: ScriptedUpstream, backup: ScriptedUpstream, plans: Plans
) -> None:
    error = {"code": "context_length_exceeded", "message": "maximum context length exceeded"}
    upstream.script(status=400, error=error)
    response = chat(gw, model=with_fallback(plans))
    assert response.status_code == 200, response.text
    assert len(upstream.requests) == 1 and len(backup.requests) == 1  # no retry: no use


def test_refusal_does_not_fall_back(
    gw: httpx.Client, upstream: ScriptedUpstream, backup: ScriptedUpstream, plans: Plans
) -> None:
    upstream.script(status=400, error=POLICY)
    error = openai_error(chat(gw, model=with_fallback(plans)), 400)
    assert error["code"] == "content_policy_violation"
    assert backup.requests == []


def test_refusal_falls_back_when_configured(
    gw: httpx.Client, upstream: ScriptedUpstream, backup: ScriptedUpstream, plans: Plans
) -> None:
    upstream.script(status=400, error=POLICY)
    upstream.script(body=_refusal_body(), match="second")
    model = with_fallback(plans, on_refusal=True)
    assert chat(gw, model=model).json()["choices"][0]["message"]["content"] == "from backup"
    # a 200 answer that is a refusal (finish_reason content_filter) falls back too
    response = chat(gw, "second", model=model)
    assert response.json()["choices"][0]["message"]["content"] == "from backup"
    assert len(backup.requests) == 2


def _refusal_body() -> dict:
    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    choice = {"index": 0, "message": message, "finish_reason": "content_filter"}
    return {"id": "x", "object": "chat.completion", "model": "gpt-4o-mini", "choices": [choice]}


def test_circuit_breaker_opens_and_probes(
    gw: httpx.Client, upstream: ScriptedUpstream, live_server: LiveServer
) -> None:
    entry = upstream.script(status=500, times=None)
    assert chat(gw).status_code == 502  # 2 attempts: 2 failures
    assert chat(gw).status_code == 502  # the 3rd failure opens the circuit: no retry
    assert len(upstream.requests) == 3
    error = openai_error(chat(gw), 503)  # open: the upstream is not called
    assert error["code"] == "circuit_open"
    assert len(upstream.requests) == 3
    breakers = live_server.app.state.gateway.breakers
    assert breakers.states()[PRIMARY] == "open"
    upstream.reset()  # the upstream recovers
    assert entry.times is None
    time.sleep(0.6)  # the cool-down is 0.5 s: the next call is the probe
    assert chat(gw).status_code == 200
    assert breakers.states()[PRIMARY] == "closed"


def test_circuit_open_sends_straight_to_the_fallback(
    gw: httpx.Client, upstream: ScriptedUpstream, backup: ScriptedUpstream, plans: Plans
) -> None:
    upstream.script(status=500, times=None)
    model = with_fallback(plans)
    for _ in range(3):
        assert chat(gw, model=model).status_code == 200
    calls = len(upstream.requests)
    assert chat(gw, model=model).status_code == 200
    assert len(upstream.requests) == calls  # skipped while open
    assert len(backup.requests) == 4


def test_stream_failing_before_the_first_chunk_falls_back(
    gw: httpx.Client, upstream: ScriptedUpstream, backup: ScriptedUpstream, plans: Plans
) -> None:
    upstream.script(status=500, times=2)
    messages = [{"role": "user", "content": "x"}]
    body = {"model": with_fallback(plans), "stream": True, "messages": messages}
    with gw.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events(response))
    assert text == "from backup"


def test_broken_stream_ends_with_an_error_event_and_an_error_trace(
    gw: httpx.Client, upstream: ScriptedUpstream, runtime: Runtime, acme: Tenant
) -> None:
    upstream.script(chunks=["one ", "two ", "three"], disconnect_after=2)
    body = {"model": PRIMARY, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with gw.stream("POST", "/v1/chat/completions", json=body) as response:
        trace_id = response.headers["x-llmloop-trace-id"]
        received = events(response)
    assert received[-1]["error"]["code"] == "upstream_stream_broken"
    assert received[1]["choices"][0]["delta"]["content"] == "one "
    root = wait_for_trace(runtime, acme.project.id, trace_id).spans[0].span
    assert root.status == "error" and "stream broken" in (root.status_message or "")
    assert root.outputs["content"] == "one "


def test_openai_sdk_raises_on_a_stream_error_event(
    live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream
) -> None:
    upstream.script(chunks=["partial"], stream_error={"message": "model crashed"})
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=acme.secret(), max_retries=0)
    stream = client.chat.completions.create(
        model=PRIMARY, messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError, match="model crashed"):
        list(stream)


def test_client_disconnect_cancels_the_upstream(
    gw: httpx.Client, upstream: ScriptedUpstream, runtime: Runtime, acme: Tenant
) -> None:
    upstream.script(chunks=[f"w{i} " for i in range(100)], chunk_delay_ms=50)
    body = {"model": PRIMARY, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with gw.stream("POST", "/v1/chat/completions", json=body) as response:
        trace_id = response.headers["x-llmloop-trace-id"]
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    deadline = time.monotonic() + 5
    while upstream.client_gone == 0:
        assert time.monotonic() < deadline, "the upstream kept streaming to nobody"
        time.sleep(0.05)
    root = wait_for_trace(runtime, acme.project.id, trace_id).spans[0].span
    assert root.status == "error"
    assert root.attributes["llmloop.client_disconnected"] is True
