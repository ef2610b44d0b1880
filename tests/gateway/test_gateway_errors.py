"""Bad input and bad keys: 4xx in the OpenAI error format naming the field, never a 500,
and nothing sent upstream."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from gw_support import chat, openai_error

from llmloop.runtime import Runtime
from llmloop.testing import ScriptedUpstream
from support import LiveServer, Tenant

MESSAGES = [{"role": "user", "content": "hi"}]


def _b(**extra: Any) -> dict[str, Any]:
    return {"model": "openai/gpt-4o-mini", "messages": MESSAGES, **extra}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": MESSAGES}, "model", "missing_required_parameter"),
        ({"model": 42, "messages": MESSAGES}, "model", "invalid_type"),
        ({"model": "openai/gpt-4o-mini"}, "messages", "missing_required_parameter"),
        ({"model": "openai/gpt-4o-mini", "messages": []}, "messages", "invalid_type"),
        ({"model": "openai/gpt-4o-mini", "messages": ["hi"]}, "messages[0]", "invalid_type"),
        (
            {"model": "openai/gpt-4o-mini", "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "invalid_value",
        ),
        (
            {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": 3}]},
            "messages[0].content",
            "invalid_type",
        ),
        (_b(temperature=7), "temperature", "invalid_value"),
        (_b(temperature="hot"), "temperature", "invalid_type"),
        (_b(max_tokens=0), "max_tokens", "invalid_value"),
        (_b(stream="yes"), "stream", "invalid_type"),
        (_b(stop=[1]), "stop", "invalid_type"),
        (_b(variables=[1]), "variables", "invalid_type"),
        ({"model": "no spaces/x y", "messages": MESSAGES}, "model", "model_not_found"),
    ],
)  # fmt: skip
def test_invalid_chat_requests_name_the_field(
    gw: httpx.Client,
    upstream: ScriptedUpstream,
    body: dict[str, Any],
    param: str,
    code: str,
) -> None:
    status = 404 if code == "model_not_found" else 400
    error = openai_error(gw.post("/v1/chat/completions", json=body), status)
    assert (error["param"], error["code"]) == (param, code)
    assert error["type"] == "invalid_request_error"
    assert upstream.requests == []


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_bodies_that_are_not_a_json_object(gw: httpx.Client, raw: bytes) -> None:
    response = gw.post("/v1/chat/completions", content=raw)
    error = openai_error(response, 400)
    assert error["code"] == "invalid_json"


def test_embedding_input_is_checked(gw: httpx.Client) -> None:
    for body, param in [
        ({"model": "openai/text-embedding-3-small"}, "input"),
        ({"model": "openai/text-embedding-3-small", "input": []}, "input"),
        ({"model": "openai/text-embedding-3-small", "input": [1, "a"]}, "input"),
        ({"model": "openai/text-embedding-3-small", "input": "a", "dimensions": -1}, "dimensions"),
    ]:
        assert openai_error(gw.post("/v1/embeddings", json=body), 400)["param"] == param


def test_unknown_provider_and_deployment_are_404(gw: httpx.Client) -> None:
    error = openai_error(chat(gw, model="nosuch/model"), 404)
    assert error["code"] == "model_not_found" and "nosuch" in error["message"]
    error = openai_error(chat(gw, model="deployment/ghost"), 404)
    assert error["code"] == "model_not_found" and error["param"] == "model"


def test_body_too_large_is_413(live_server: LiveServer, acme: Tenant, runtime: Runtime) -> None:
    limit = runtime.settings.max_request_bytes
    with live_server.client(headers=acme.headers()) as client:
        response = chat(client, "x" * (limit + 10))
    assert openai_error(response, 413)["code"] == "request_too_large"


def test_missing_and_invalid_keys_are_401(live_server: LiveServer) -> None:
    with live_server.client() as client:
        error = openai_error(chat(client), 401)
        assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
        bad = {"Authorization": "Bearer llk_not-a-key"}
        response = client.post(
            "/v1/chat/completions", headers=bad, json={"model": "x", "messages": MESSAGES}
        )
        assert openai_error(response, 401)["code"] == "invalid_api_key"
        assert openai_error(client.get("/v1/models"), 401)["code"] == "invalid_api_key"


def test_public_key_is_refused(live_server: LiveServer, acme: Tenant) -> None:
    with live_server.client(headers=acme.public_headers) as client:
        assert openai_error(chat(client), 403)["code"] == "public_key"


def test_revoked_key_stops_working_within_the_cache_ttl(
    live_server: LiveServer, acme: Tenant, runtime: Runtime
) -> None:
    with live_server.client(headers=acme.headers("editor")) as client:
        assert chat(client).status_code == 200
        runtime.tenancy.revoke_key(acme.project.id, acme.keys["editor"].id, actor="test")
        deadline = time.monotonic() + runtime.settings.gateway_auth_ttl_s + 2
        while chat(client).status_code == 200:
            assert time.monotonic() < deadline, "a revoked key kept working past the TTL"
            time.sleep(0.05)
        assert openai_error(chat(client), 401)["code"] == "invalid_api_key"


def test_auth_is_cached(live_server: LiveServer, acme: Tenant) -> None:
    auth = live_server.app.state.gateway.auth
    with live_server.client(headers=acme.headers("viewer")) as client:
        before = auth.lookups
        for _ in range(5):
            assert chat(client).status_code == 200
    assert auth.lookups - before <= 1
