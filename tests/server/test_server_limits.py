"""The request size limit: 413 in the error shape, with Content-Length and chunked bodies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from llmloop.runtime import Runtime
from llmloop.settings import Settings
from support import LiveServer, Tenant, assert_error

LIMIT = 2048
KEYS_URL = "/api/v1/projects/acme/keys"
MESSAGE = f"request body larger than {LIMIT} bytes (raise LLMLOOP_MAX_REQUEST_BYTES to allow it)"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=db_url, max_request_bytes=LIMIT)


def big_key_body(size: int) -> bytes:
    body = json.dumps({"name": "x" * size, "role": "viewer"}).encode()
    assert len(body) == size + 30 > LIMIT
    return body


def chunks(body: bytes, size: int = 512) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_body_over_the_limit_with_content_length_is_413(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    response = client.post(
        KEYS_URL,
        headers={**tenant.headers(), "content-type": "application/json"},
        content=big_key_body(LIMIT),
    )
    error = assert_error(response, 413, "request_too_large")
    assert error["message"] == MESSAGE
    assert len(runtime.tenancy.keys.list(tenant.project.id)) == 4


def test_body_under_the_limit_passes(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        KEYS_URL,
        headers={**tenant.headers(), "content-type": "application/json"},
        content=json.dumps({"name": "y" * 180}).encode(),
    )
    assert response.status_code == 201


def test_limits_over_a_real_socket(live_server: LiveServer) -> None:
    tenant = live_server.tenant("acme")
    headers = {**tenant.headers(), "content-type": "application/json"}
    body = big_key_body(LIMIT)
    with live_server.client() as http:
        declared = http.post(KEYS_URL, headers=headers, content=body)
        error = assert_error(declared, 413, "request_too_large")
        assert error["message"] == MESSAGE

        request = http.build_request("POST", KEYS_URL, headers=headers, content=chunks(body))
        assert request.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in request.headers
        chunked = http.send(request)
        error = assert_error(chunked, 413, "request_too_large")
        assert error["message"] == MESSAGE

        # a small chunked body is fine, and the server still answers afterwards
        small = json.dumps({"name": "chunky"}).encode()
        ok = http.post(KEYS_URL, headers=headers, content=chunks(small, 4))
        assert ok.status_code == 201, ok.text
        assert ok.json()["key"]["name"] == "chunky"
    names = [k.name for k in live_server.runtime.tenancy.keys.list(tenant.project.id)]
    assert names == ["viewer", "editor", "admin", "public", "chunky"]


def test_oversized_form_post_to_the_ui_is_413(live_server: LiveServer) -> None:
    tenant = live_server.tenant("acme")
    with live_server.client(cookies={"llmloop_key": tenant.secret()}) as http:
        response = http.post(
            "/keys",
            content=chunks(b"name=" + b"z" * LIMIT + b"&role=viewer"),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert_error(response, 413, "request_too_large")


def test_chunked_body_in_process_is_413(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        KEYS_URL,
        headers={**tenant.headers(), "content-type": "application/json"},
        content=chunks(big_key_body(LIMIT * 2)),
    )
    assert_error(response, 413, "request_too_large")


def test_get_without_body_is_unaffected(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.url}/api/v1/health")
    assert response.status_code == 200
