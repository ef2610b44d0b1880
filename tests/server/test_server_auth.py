"""Authentication and roles on the REST API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from llmloop.records import Role
from llmloop.runtime import Runtime
from support import Tenant, assert_error

PROJECT_URL = "/api/v1/projects/acme"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing API key: send 'Authorization: Bearer <key>'"),
        ({"Authorization": "Bearer "}, "missing API key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing API key"),
        ({"Authorization": "Bearer llk_not-a-key"}, "invalid or revoked API key"),
    ],
)
def test_missing_or_invalid_key_is_401(
    client: TestClient, tenant: Tenant, headers: dict[str, str], message: str
) -> None:
    error = assert_error(client.get(PROJECT_URL, headers=headers), 401, "unauthenticated")
    assert error["message"].startswith(message)


def test_revoked_key_is_401(client: TestClient, tenant: Tenant, runtime: Runtime) -> None:
    headers = tenant.headers("editor")
    assert client.get(PROJECT_URL, headers=headers).status_code == 200
    runtime.tenancy.revoke_key(tenant.project.id, tenant.keys[Role.editor].id, actor="t")
    error = assert_error(client.get(PROJECT_URL, headers=headers), 401, "unauthenticated")
    assert error["message"] == "invalid or revoked API key"


def test_revoking_through_the_api_takes_effect(client: TestClient, tenant: Tenant) -> None:
    viewer = tenant.keys[Role.viewer]
    response = client.post(
        f"{PROJECT_URL}/keys/{viewer.id}/revoke",
        headers=tenant.headers(),
        json={"reason": "left the team"},
    )
    assert response.status_code == 200
    assert response.json()["id"] == viewer.id
    assert response.json()["revoked_at"] is not None
    assert_error(client.get(PROJECT_URL, headers=tenant.headers("viewer")), 401, "unauthenticated")
    audit = client.get(
        f"{PROJECT_URL}/audit", params={"object_id": viewer.id}, headers=tenant.headers()
    ).json()
    assert [(e["action"], e["reason"], e["actor"]) for e in audit] == [
        ("key.revoke", "left the team", "key:admin"),
        ("key.create", None, "test-setup"),
    ]


def test_every_key_role_can_read_its_project(client: TestClient, tenant: Tenant) -> None:
    for role in Role:
        response = client.get(PROJECT_URL, headers=tenant.headers(role))
        assert response.status_code == 200, role
        assert response.json()["id"] == tenant.project.id
    listed = client.get("/api/v1/projects", headers=tenant.headers("viewer"))
    assert [p["name"] for p in listed.json()] == ["acme"]


def test_the_ui_cookie_authenticates_api_calls_too(client: TestClient, tenant: Tenant) -> None:
    client.cookies.set("llmloop_key", tenant.secret("viewer"))
    assert client.get(PROJECT_URL).json()["name"] == "acme"


def test_public_key_is_refused_everywhere_but_feedback(client: TestClient, tenant: Tenant) -> None:
    for path in (PROJECT_URL, f"{PROJECT_URL}/overview", f"{PROJECT_URL}/audit", "/api/v1/models"):
        error = assert_error(client.get(path, headers=tenant.public_headers), 403, "forbidden")
        assert "public ingestion key may only send end-user feedback" in error["message"]


@pytest.mark.parametrize("role", [Role.viewer, Role.editor])
def test_only_admins_create_keys(
    client: TestClient, tenant: Tenant, runtime: Runtime, role: Role
) -> None:
    before = [k.id for k in runtime.tenancy.keys.list(tenant.project.id)]
    events = runtime.tenancy.audit.count(tenant.project.id)
    response = client.post(
        f"{PROJECT_URL}/keys", headers=tenant.headers(role), json={"name": "x", "role": "admin"}
    )
    error = assert_error(response, 403, "forbidden")
    assert error["message"] == (
        f"this action needs the 'admin' role; the key 'key:{role.value}' has {role.value!r}"
    )
    assert_error(client.get(f"{PROJECT_URL}/keys", headers=tenant.headers(role)), 403, "forbidden")
    assert [k.id for k in runtime.tenancy.keys.list(tenant.project.id)] == before
    assert runtime.tenancy.audit.count(tenant.project.id) == events


def test_admin_creates_a_key_that_works(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    response = client.post(
        f"{PROJECT_URL}/keys", headers=tenant.headers(), json={"name": "ci", "role": "editor"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["key"]["name"] == "ci"
    assert body["key"]["role"] == "editor"
    assert body["key"]["project_id"] == tenant.project.id
    assert body["secret"].startswith(body["key"]["prefix"])
    principal = runtime.tenancy.authenticate(body["secret"])
    assert principal.role is Role.editor
    assert principal.project == tenant.project

    listed = client.get(f"{PROJECT_URL}/keys", headers=tenant.headers()).json()
    assert "ci" in [k["name"] for k in listed]
    assert all("secret" not in k and "digest" not in k for k in listed)
    assert body["secret"] not in client.get(f"{PROJECT_URL}/keys", headers=tenant.headers()).text


def test_overview_counts(client: TestClient, tenant: Tenant, runtime: Runtime) -> None:
    body = client.get(f"{PROJECT_URL}/overview", headers=tenant.headers("viewer")).json()
    assert body["project"]["id"] == tenant.project.id
    assert body["counts"] == {
        "api_keys": 4,
        "audit_events": 5,
        "providers": len(runtime.providers.names()),
    }
    assert [e["action"] for e in body["recent_activity"]].count("key.create") == 4


def test_admin_creates_a_new_project_with_its_own_admin_key(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    response = client.post(
        "/api/v1/projects", headers=tenant.headers(), json={"name": "new-bot", "description": "d"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["project"]["name"] == "new-bot"
    assert body["admin_key"]["role"] == "admin"
    new = runtime.tenancy.authenticate(body["secret"])
    assert new.project.name == "new-bot"
    # the new key sees the new project only, the old key the old one only
    assert (
        client.get(
            "/api/v1/projects/new-bot", headers={"Authorization": f"Bearer {body['secret']}"}
        ).status_code
        == 200
    )
    assert_error(client.get("/api/v1/projects/new-bot", headers=tenant.headers()), 404, "not_found")
    conflict = client.post("/api/v1/projects", headers=tenant.headers(), json={"name": "new-bot"})
    assert_error(conflict, 409, "conflict")
    assert_error(
        client.post("/api/v1/projects", headers=tenant.headers("editor"), json={"name": "x"}),
        403,
        "forbidden",
    )
