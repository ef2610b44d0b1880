"""Fixtures: a live llmloop server whose ``openai`` provider is a scripted upstream.

``backup`` is a second scripted upstream registered as the ``backup/...`` provider, for
fallbacks. Retries, timeouts and the circuit breaker are tightened so fault tests run
fast. ``plans`` installs a :class:`Plans` (a real PlanSource returning RoutePlans) as the
runtime's deployment plans.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gw_support import Plans

from llmloop.runtime import Runtime
from llmloop.settings import Settings
from llmloop.testing import ScriptedUpstream
from support import LiveServer, Tenant


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


@pytest.fixture
def backup() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(reply="from backup") as up:
        yield up


GATEWAY_SETTINGS: dict[str, Any] = {
    "max_retries": 1,
    "request_timeout_s": 1.0,
    "gateway_retry_backoff_s": 0.01,
    "gateway_breaker_failures": 3,
    "gateway_breaker_cooldown_s": 0.5,
    "gateway_auth_ttl_s": 0.3,
}


@pytest.fixture
def gateway_settings() -> dict[str, Any]:
    """Override in a module to change settings of the server under test."""
    return {}


@pytest.fixture
def settings(
    db_url: str,
    tmp_path: Path,
    upstream: ScriptedUpstream,
    gateway_settings: dict[str, Any],
) -> Settings:
    values = {**GATEWAY_SETTINGS, **gateway_settings}
    return Settings(
        data_dir=tmp_path, database_url=db_url, openai_base_url=upstream.base_url, **values
    )


@pytest.fixture
def runtime(runtime: Runtime, backup: ScriptedUpstream) -> Runtime:
    runtime.providers.register_endpoint("backup", base_url=backup.base_url)
    return runtime


@pytest.fixture
def plans(runtime: Runtime) -> Plans:
    source = Plans()
    runtime.__dict__["deployment_plans"] = source  # the runtime's cached PlanSource
    return source


@pytest.fixture
def acme(live_server: LiveServer) -> Tenant:
    return live_server.tenant("acme")


@pytest.fixture
def gw(live_server: LiveServer, acme: Tenant) -> Iterator[httpx.Client]:
    """An httpx client on the gateway with acme's editor key."""
    with live_server.client(headers=acme.headers("editor"), timeout=10) as client:
        yield client
