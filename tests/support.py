"""Test helpers shared by the fixtures in ``conftest.py`` and the tests that use them.

Import them in a test module with ``from support import Tenant`` (pytest puts ``tests/``
on ``sys.path`` because ``tests/conftest.py`` lives there).
"""

from __future__ import annotations

import queue
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from llmloop.records import ApiKey, Project, Role
from llmloop.runtime import Runtime

TEST_ACTOR = "test-setup"
SCHEMA_PREFIX = "llmloop_t_"


class PostgresServer:
    """An admin connection to the test PostgreSQL that hands out one schema per test.

    Schemas are never reused; used ones are dropped by a background thread so a test
    does not wait for ``DROP SCHEMA`` (failures are reported by :meth:`close`).
    """

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self._doomed: queue.Queue[str | None] = queue.Queue()
        self._failures: list[str] = []
        self._dropper = threading.Thread(target=self._drop_loop, name="schema-dropper", daemon=True)
        self._dropper.start()

    def create_schema(self) -> str:
        schema = f"{SCHEMA_PREFIX}{uuid.uuid4().hex[:20]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        return schema

    def drop_schema(self, schema: str) -> None:
        with self.engine.connect() as conn:
            # A connection leaked by the test would hold locks; fail loudly, never hang.
            conn.execute(text("SET lock_timeout = '10s'"))
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

    def drop_schema_later(self, schema: str) -> None:
        self._doomed.put(schema)

    def _drop_loop(self) -> None:
        while (schema := self._doomed.get()) is not None:
            try:
                self.drop_schema(schema)
            except SQLAlchemyError as exc:
                self._failures.append(f"{schema}: {type(exc).__name__}: {exc}")

    def close(self) -> list[str]:
        """Finish the pending drops; return the ones that failed."""
        self._doomed.put(None)
        self._dropper.join()
        self.engine.dispose()
        return self._failures

    def url_for(self, schema: str) -> str:
        url = make_url(self.url).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)


@dataclass(frozen=True)
class Tenant:
    """A project with one active key per role and one public (feedback-only) key."""

    project: Project
    keys: dict[Role, ApiKey]
    secrets: dict[Role, str]
    public_key: ApiKey
    public_secret: str

    def secret(self, role: Role | str = Role.admin) -> str:
        return self.secrets[Role(role)]

    def headers(self, role: Role | str = Role.admin) -> dict[str, str]:
        """``Authorization`` header for this project's key of ``role``."""
        return {"Authorization": f"Bearer {self.secret(role)}"}

    @property
    def public_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.public_secret}"}


def make_tenant(runtime: Runtime, name: str, description: str = "") -> Tenant:
    """Create project ``name`` with keys named ``viewer``, ``editor``, ``admin``, ``public``."""
    tenancy = runtime.tenancy
    project = tenancy.create_project(name, description, actor=TEST_ACTOR)
    keys: dict[Role, ApiKey] = {}
    secrets: dict[Role, str] = {}
    for role in Role:
        keys[role], secrets[role] = tenancy.create_key(
            project.id, role.value, role, actor=TEST_ACTOR
        )
    public_key, public_secret = tenancy.create_key(
        project.id, "public", Role.viewer, actor=TEST_ACTOR, public=True
    )
    return Tenant(project, keys, secrets, public_key, public_secret)


@dataclass
class LiveServer:
    """The real app served by uvicorn on loopback, in a background thread."""

    url: str
    runtime: Runtime
    app: FastAPI
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def tenant(self, name: str, description: str = "") -> Tenant:
        """A new project in this server's database with one key of each role."""
        return make_tenant(self.runtime, name, description)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client with ``base_url`` set to this server (close it, or use ``with``)."""
        return httpx.Client(base_url=self.url, **kwargs)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            raise RuntimeError(f"uvicorn serving {self.url} did not stop within 30 s")


def serve(app: FastAPI, runtime: Runtime, *, startup_timeout_s: float = 30.0) -> LiveServer:
    """Start ``app`` on 127.0.0.1 with an ephemeral port; return once /api/v1/health answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn:{port}", daemon=True
    )
    thread.start()
    live = LiveServer(f"http://127.0.0.1:{port}", runtime, app, server, thread)
    deadline = time.monotonic() + startup_timeout_s
    problem = "did not start"
    while time.monotonic() < deadline:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError(f"uvicorn on port {port} exited during startup")
        if server.started:
            try:
                response = httpx.get(f"{live.url}/api/v1/health", timeout=2)
            except httpx.TransportError as exc:
                problem = f"health check failed: {exc!r}"
            else:
                if response.status_code == 200:
                    return live
                problem = f"health answered {response.status_code}: {response.text[:200]}"
        time.sleep(0.01)
    live.stop()
    sock.close()
    raise RuntimeError(f"server on port {port} not ready after {startup_timeout_s} s: {problem}")


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check the one JSON error shape ``{"error": {"code", "message"[, "details"]}}``.

    Returns the inner ``error`` object for further assertions.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) <= {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"].strip(), error
    return error
