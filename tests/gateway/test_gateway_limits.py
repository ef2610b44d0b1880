"""Limits per API key (requests/min, tokens/min, cost/day) in memory and shared through
Redis, including two server processes sharing one limit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gw_support import chat, openai_error

from llmloop.runtime import Runtime
from llmloop.testing import ScriptedUpstream
from support import LiveServer, Tenant, make_tenant

REDIS_URL = os.environ.get("LLMLOOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def same_minute(margin_s: float = 5.0) -> None:
    """Start a test early in a minute so its calls share one window."""
    left = 60 - time.time() % 60
    if left < margin_s:
        time.sleep(left + 0.05)


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(
    not redis_available() and not os.environ.get("CI"), reason="no Redis at 127.0.0.1:6379"
)


class TestInMemory:
    @pytest.fixture
    def gateway_settings(self) -> dict[str, Any]:
        return {"gateway_requests_per_minute": 3, "gateway_tokens_per_minute": 1000}

    def test_requests_per_minute(self, live_server: LiveServer, acme: Tenant) -> None:
        same_minute()
        with live_server.client(headers=acme.headers()) as client:
            assert [chat(client).status_code for _ in range(3)] == [200, 200, 200]
            refused = chat(client)
            error = openai_error(refused, 429)
            assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
            assert "3 requests/minute" in error["message"]
            assert 1 <= int(refused.headers["retry-after"]) <= 60
        other = live_server.tenant("other")  # another key has its own budget
        with live_server.client(headers=other.headers()) as client:
            assert chat(client).status_code == 200


class TestTokens:
    @pytest.fixture
    def gateway_settings(self) -> dict[str, Any]:
        return {"gateway_tokens_per_minute": 10, "gateway_cost_per_day": 1.0}

    def test_tokens_per_minute(
        self, live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream
    ) -> None:
        same_minute()
        upstream.script("ok", usage={"prompt_tokens": 4, "completion_tokens": 2}, times=None)
        with live_server.client(headers=acme.headers()) as client:
            assert chat(client).status_code == 200  # 6 tokens
            assert chat(client).status_code == 200  # 12: over, but counted after the answer
            assert "tokens/minute" in openai_error(chat(client), 429)["message"]


class TestCost:
    @pytest.fixture
    def gateway_settings(self) -> dict[str, Any]:
        return {"gateway_cost_per_day": 0.000001}

    def test_cost_per_day(
        self, live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream
    ) -> None:
        upstream.script("ok", usage={"prompt_tokens": 1000, "completion_tokens": 1000})
        with live_server.client(headers=acme.headers()) as client:
            assert chat(client).status_code == 200  # gpt-4o-mini: $0.00075
            refused = chat(client)
            assert "cost/day" in openai_error(refused, 429)["message"]
            assert int(refused.headers["retry-after"]) > 60


@needs_redis
class TestRedis:
    @pytest.fixture
    def gateway_settings(self) -> dict[str, Any]:
        return {"gateway_requests_per_minute": 2, "redis_url": REDIS_URL}

    def test_limit_is_kept_in_redis(self, live_server: LiveServer, acme: Tenant) -> None:
        same_minute()
        with live_server.client(headers=acme.headers()) as client:
            assert [chat(client).status_code for _ in range(3)] == [200, 200, 429]
        limits = live_server.app.state.gateway.limits
        assert type(limits).__name__ == "RedisLimits"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def two_servers(
    db_url: str, tmp_path: Path, upstream: ScriptedUpstream, runtime: Runtime
) -> Iterator[tuple[list[str], str]]:
    """Two ``llmloop server`` processes on one database and one Redis; a key for both."""
    tenant = make_tenant(runtime, "shared")
    config = tmp_path / "empty.toml"
    config.write_text("")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LLMLOOP_")},
        "LLMLOOP_CONFIG": str(config),
        "LLMLOOP_DATA_DIR": str(tmp_path / "data"),
        "LLMLOOP_DATABASE_URL": db_url,
        "LLMLOOP_OPENAI_BASE_URL": upstream.base_url,
        "LLMLOOP_REDIS_URL": REDIS_URL,
        "LLMLOOP_GATEWAY_REQUESTS_PER_MINUTE": "5",
    }
    ports = [_free_port(), _free_port()]
    code = "from llmloop.cli.main import main; main()"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, "server", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 60
        for proc, url in zip(procs, urls, strict=True):
            while True:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                try:
                    if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{url} did not start"
                time.sleep(0.1)
        yield urls, tenant.secret()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@needs_redis
def test_two_server_processes_share_one_limit(
    two_servers: tuple[list[str], str], upstream: ScriptedUpstream
) -> None:
    urls, secret = two_servers
    same_minute(10)
    statuses = []
    headers = {"Authorization": f"Bearer {secret}"}
    for i in range(8):  # alternate between the replicas
        with httpx.Client(base_url=urls[i % 2], headers=headers, timeout=10) as client:
            statuses.append(chat(client).status_code)
    assert statuses.count(200) == 5 and statuses.count(429) == 3, statuses
    assert statuses[:5] == [200] * 5
    assert len(upstream.requests) == 5
