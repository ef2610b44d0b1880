"""Project isolation on every router: a key of project A never reaches project B.

Routes are enumerated from the app itself, so a router added later is covered without
touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from llmloop.records import Role
from llmloop.runtime import Runtime
from support import Tenant, assert_error

PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str

    def url(self, project: str, other: str = "x_placeholder") -> str:
        return PARAM.sub(lambda m: project if m.group(1) == "project" else other, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def project_endpoints(app: FastAPI) -> list[Endpoint]:
    """Every (method, path) of the app whose path has a ``{project}`` parameter."""
    found = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path
        if not isinstance(route, APIRoute) or not path or "{project}" not in path:
            continue
        for method in context.methods or ():
            if method != "HEAD":
                found.add(Endpoint(method, path))
    return sorted(found, key=str)


@pytest.fixture
def alpha(tenant_factory: Callable[..., Tenant]) -> Tenant:
    return tenant_factory("alpha-team", "A's project")


@pytest.fixture
def beta(tenant_factory: Callable[..., Tenant], runtime: Runtime) -> Tenant:
    beta = tenant_factory("beta-secret-project", "B's confidential description")
    runtime.tenancy.audit.record(
        beta.project.id, actor="key:beta-admin", action="prompt.promote", object_type="prompt",
        object_id="beta-only-object", reason="beta-only-reason",
    )  # fmt: skip
    return beta


def beta_fingerprints(beta: Tenant) -> list[str]:
    """Strings that only B's data contains; none may appear in an answer to A."""
    keys = [*beta.keys.values(), beta.public_key]
    return [
        beta.project.id,
        "B's confidential description",
        "beta-only-object",
        "beta-only-reason",
        *(k.id for k in keys),
        *(k.prefix for k in keys),
    ]


def test_route_enumeration_finds_the_project_routes(app: FastAPI, client: TestClient) -> None:
    endpoints = {str(e) for e in project_endpoints(app)}
    assert {
        "GET /api/v1/projects/{project}",
        "GET /api/v1/projects/{project}/overview",
        "GET /api/v1/projects/{project}/keys",
        "POST /api/v1/projects/{project}/keys",
        "POST /api/v1/projects/{project}/keys/{key_id}/revoke",
        "GET /api/v1/projects/{project}/audit",
    } <= endpoints
    openapi = client.get("/api/v1/openapi.json").json()["paths"]
    documented = {
        f"{method.upper()} {path}"
        for path, operations in openapi.items()
        if "{project}" in path
        for method in operations
    }
    assert documented <= endpoints


def test_key_of_project_a_never_reaches_project_b(
    app: FastAPI, client: TestClient, alpha: Tenant, beta: Tenant
) -> None:
    endpoints = project_endpoints(app)
    fingerprints = beta_fingerprints(beta)
    checked = 0
    for endpoint in endpoints:
        for role in Role:
            for target in (beta.project.id, beta.project.name):
                url = endpoint.url(target, other=beta.keys[Role.viewer].id)
                response = client.request(
                    endpoint.method, url, headers=alpha.headers(role), json={}
                )
                assert response.status_code in (403, 404), (str(endpoint), role, response.text)
                code = {403: "forbidden", 404: "not_found"}[response.status_code]
                assert_error(response, response.status_code, code)
                # what the caller sent may be echoed ("project 'x' not found"), nothing else
                leaked = [f for f in fingerprints if f in response.text and f not in url]
                assert leaked == [], (str(endpoint), role, leaked)
                if target == beta.project.id:
                    assert beta.project.name not in response.text, str(endpoint)
                checked += 1
    assert checked == len(endpoints) * len(Role) * 2 >= 12


def test_key_of_project_a_gets_its_own_project_on_every_read_route(
    app: FastAPI, client: TestClient, alpha: Tenant, beta: Tenant
) -> None:
    fingerprints = beta_fingerprints(beta)
    for endpoint in project_endpoints(app):
        if endpoint.method != "GET" or endpoint.path.count("{") > 1:
            continue  # routes naming an object answer 404 for a made-up id
        for target in (alpha.project.id, alpha.project.name):
            response = client.get(endpoint.url(target), headers=alpha.headers())
            assert response.status_code == 200, (str(endpoint), response.text)
            assert [f for f in fingerprints if f in response.text] == [], str(endpoint)


def test_writing_into_project_b_fails_and_changes_nothing(
    client: TestClient, runtime: Runtime, alpha: Tenant, beta: Tenant
) -> None:
    tenancy = runtime.tenancy

    def snapshot() -> tuple[object, ...]:
        return (
            tenancy.keys.list(beta.project.id, include_revoked=True),
            tenancy.audit.list(beta.project.id, limit=1000),
            tenancy.projects.get(beta.project.id),
        )

    before = snapshot()
    victim = beta.keys[Role.admin]
    attempts = [
        (f"/api/v1/projects/{beta.project.id}/keys", {"name": "intruder", "role": "admin"}),
        (f"/api/v1/projects/{beta.project.name}/keys", {"name": "intruder", "role": "admin"}),
        (f"/api/v1/projects/{beta.project.name}/keys/{victim.id}/revoke", {"reason": "x"}),
        # B's key addressed through A's own project
        (f"/api/v1/projects/{alpha.project.name}/keys/{victim.id}/revoke", {"reason": "x"}),
    ]
    for url, body in attempts:
        response = client.post(url, headers=alpha.headers(), json=body)
        assert_error(response, 404, "not_found")

    assert snapshot() == before
    assert tenancy.authenticate(beta.secret("admin")).key == victim
    assert [k.name for k in tenancy.keys.list(alpha.project.id)] == [
        "viewer", "editor", "admin", "public",
    ]  # fmt: skip


def test_project_list_shows_only_the_callers_project(
    client: TestClient, alpha: Tenant, beta: Tenant
) -> None:
    response = client.get("/api/v1/projects", headers=alpha.headers())
    assert response.status_code == 200
    assert [p["id"] for p in response.json()] == [alpha.project.id]
    assert [f for f in beta_fingerprints(beta) if f in response.text] == []
