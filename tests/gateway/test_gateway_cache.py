"""The optional exact-match response cache."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from gw_support import chat, wait_for_trace

from llmloop.runtime import Runtime
from llmloop.testing import ScriptedUpstream
from support import LiveServer, Tenant


@pytest.fixture
def gateway_settings() -> dict[str, Any]:
    return {"gateway_cache_ttl_s": 30}


def test_identical_requests_are_answered_from_the_cache(
    gw: httpx.Client, upstream: ScriptedUpstream, runtime: Runtime, acme: Tenant
) -> None:
    first = chat(gw, "what is 2+2?", temperature=0)
    second = gw.post(  # same request, fields in another order
        "/v1/chat/completions",
        json={"temperature": 0, "messages": [{"role": "user", "content": "what is 2+2?"}],
              "model": "openai/gpt-4o-mini"},
    )  # fmt: skip
    assert second.status_code == 200
    assert second.headers["x-llmloop-cache"] == "hit" and "x-llmloop-cache" not in first.headers
    assert second.json() == first.json()
    assert len(upstream.requests) == 1
    trace = wait_for_trace(runtime, acme.project.id, second.headers["x-llmloop-trace-id"])
    assert trace.spans[0].span.attributes["llmloop.cache_hit"] is True
    assert chat(gw, "what is 2+2?", temperature=0.5).status_code == 200  # another request
    streamed = {
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "what is 2+2?"}],
        "temperature": 0,
        "stream": True,
    }
    with gw.stream("POST", "/v1/chat/completions", json=streamed) as response:
        response.read()
    assert len(upstream.requests) == 3  # streams are not cached


def test_cache_is_per_project(
    live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream
) -> None:
    other = live_server.tenant("other")
    for tenant in (acme, other):
        with live_server.client(headers=tenant.headers()) as client:
            assert "x-llmloop-cache" not in chat(client, "same question").headers
    assert len(upstream.requests) == 2


def test_errors_are_not_cached(gw: httpx.Client, upstream: ScriptedUpstream) -> None:
    upstream.script(status=400, error={"message": "bad"})
    assert chat(gw, "q").status_code == 400
    assert chat(gw, "q").status_code == 200
