"""The prompts REST API: versions, identical content, labels with audit, diff, render."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from llmloop.runtime import Runtime
from llmloop.store.prompts import PromptRepository
from support import Tenant, assert_error

V1 = {
    "messages": [
        {"role": "system", "content": "You route tickets for {{ product }}."},
        {"role": "user", "content": "{{ ticket }}"},
    ],
    "variables": [
        {"name": "product", "type": "string", "default": "Acme"},
        {"name": "ticket", "type": "string"},
    ],
    "params": {"temperature": 0.0, "max_tokens": 64},
}
V2 = {
    **V1,
    "messages": [
        {"role": "system", "content": "You route tickets for {{ product }}. Answer in JSON."},
        {"role": "user", "content": "{{ ticket }}"},
    ],
    "params": {"temperature": 0.2, "seed": 7},
    "response_schema": {"type": "object", "required": ["intent"]},
}


def url(tenant: Tenant, path: str = "") -> str:
    return f"/api/v1/projects/{tenant.project.name}/prompts{path}"


def commit(client: TestClient, tenant: Tenant, body: dict[str, Any], **extra: Any) -> Any:
    return client.post(
        url(tenant, "/triage/versions"),
        headers=tenant.headers("editor"),
        json={**body, "create": True, **extra},
    )


def test_versions_are_immutable_and_identical_content_returns_the_existing_one(
    client: TestClient, tenant: Tenant
) -> None:
    first = commit(client, tenant, V1, message="first")
    assert first.status_code == 201, first.text
    assert first.json()["created"] and first.json()["version"]["number"] == 1
    same = commit(client, tenant, V1, message="again")
    assert same.json() == {**first.json(), "created": False}
    second = commit(client, tenant, V2, labels=["staging"])
    assert second.json()["version"]["number"] == 2
    versions = client.get(url(tenant, "/triage/versions"), headers=tenant.headers()).json()
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[1]["content_hash"] == first.json()["version"]["content_hash"]
    assert versions[1]["params"] == {"temperature": 0.0, "max_tokens": 64}
    summary = client.get(url(tenant, "/triage"), headers=tenant.headers()).json()
    assert summary["latest"]["number"] == 2 and summary["versions"] == 2
    assert {lb["name"] for lb in summary["labels"]} == {"latest", "staging"}


def test_labels_move_with_an_audit_event(client: TestClient, tenant: Tenant) -> None:
    commit(client, tenant, V1)
    commit(client, tenant, V2)
    editor = tenant.headers("editor")
    moved = client.put(
        url(tenant, "/triage/labels/production"),
        headers=editor,
        json={"version": "v1", "reason": "safe default"},
    )
    assert moved.status_code == 200, moved.text
    client.put(
        url(tenant, "/triage/labels/production"),
        headers=editor,
        json={"version": "v2", "reason": "json output"},
    )
    got = client.get(url(tenant, "/triage/versions/production"), headers=tenant.headers())
    assert got.json()["number"] == 2
    audit = client.get(
        f"/api/v1/projects/{tenant.project.name}/audit",
        params={"object_type": "prompt"},
        headers=tenant.headers(),
    ).json()
    moves = [
        (e["data"]["label"], e["data"]["from"], e["data"]["version"], e["reason"])
        for e in audit
        if e["action"] == "prompt.label"
    ]
    assert moves == [
        ("production", "v1", "v2", "json output"),
        ("production", None, "v1", "safe default"),
    ]
    for label, message in (
        ("latest", "moves by itself"),
        ("v3", "not shaped like a version"),
        ("Prod", "is invalid"),
    ):
        bad = client.put(
            url(tenant, f"/triage/labels/{label}"), headers=editor, json={"version": "v1"}
        )
        assert message in assert_error(bad, 422, "invalid_request")["message"]
    missing = client.put(
        url(tenant, "/triage/labels/production"), headers=editor, json={"version": "v9"}
    )
    assert "has no version 'v9'" in assert_error(missing, 404, "not_found")["message"]


def test_diff_shows_template_params_and_variables(client: TestClient, tenant: Tenant) -> None:
    commit(client, tenant, V1)
    commit(
        client,
        tenant,
        {
            **V2,
            "variables": [*V2["variables"], {"name": "lang", "type": "string", "required": False}],
        },
    )
    diff = client.get(
        url(tenant, "/triage/diff"), params={"from": "v1", "to": "v2"}, headers=tenant.headers()
    ).json()
    assert "-You route tickets for {{ product }}.\n" in diff["template_diff"]
    assert "+You route tickets for {{ product }}. Answer in JSON.\n" in diff["template_diff"]
    assert diff["template_diff"].startswith("--- triage v1\n+++ triage v2\n")
    assert [(c["key"], c["kind"], c["before"], c["after"]) for c in diff["params"]] == [
        ("max_tokens", "removed", 64, None),
        ("seed", "added", None, 7),
        ("temperature", "changed", 0.0, 0.2),
    ]
    assert [(c["key"], c["kind"]) for c in diff["variables"]] == [("lang", "added")]
    assert diff["response_schema_changed"] and not diff["tools_changed"]


def test_render_validates_variables(client: TestClient, tenant: Tenant) -> None:
    commit(client, tenant, V1)
    ok = client.post(
        url(tenant, "/triage/render"),
        headers=tenant.headers("viewer"),
        json={"variables": {"ticket": "refund please"}},
    )
    assert ok.json()["messages"] == [
        {"role": "system", "content": "You route tickets for Acme."},
        {"role": "user", "content": "refund please"},
    ]
    missing = client.post(
        url(tenant, "/triage/render"),
        headers=tenant.headers(),
        json={"version": "v1", "variables": {}},
    )
    error = assert_error(missing, 422, "invalid_request")
    assert error["message"] == "missing required variable(s) 'ticket' for prompt 'triage' v1"
    assert error["details"] == [{"field": "variables.ticket", "message": "required"}]
    typed = client.post(
        url(tenant, "/triage/render"),
        headers=tenant.headers(),
        json={"variables": {"ticket": ["a"]}},
    )
    assert (
        "variable 'ticket' must be a string"
        in assert_error(typed, 422, "invalid_request")["message"]
    )


def test_bad_versions_are_422_and_write_nothing(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    cases = [
        ({"messages": [{"role": "user", "content": "{% if %}"}]}, "syntax error on line 1"),
        (
            {"messages": [{"role": "user", "content": "{{ a }}"}], "variables": [{"name": "b"}]},
            "undeclared variable(s) 'a'",
        ),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        (
            {"text": "{{ n }}", "variables": [{"name": "n", "type": "integer", "default": "one"}]},
            "default of variable 'n' must be an integer",
        ),
        ({"text": "x", "variables": [{"name": "1bad"}]}, "variables.0.name"),
        ({"text": "x", "variables": [{"name": "a", "type": "date"}]}, "variables.0.type"),
        ({}, "non-empty 'text'"),
    ]
    for body, message in cases:
        response = commit(client, tenant, body)
        error = assert_error(response, 422, "invalid_request")
        assert message in str(error), (body, error)
    assert PromptRepository(runtime.db).list(tenant.project.id) == []


def test_roles_names_and_missing_prompts(client: TestClient, tenant: Tenant) -> None:
    denied = client.post(url(tenant), headers=tenant.headers("viewer"), json={"name": "p"})
    assert_error(denied, 403, "forbidden")
    created = client.post(
        url(tenant),
        headers=tenant.headers("editor"),
        json={"name": "greeting", "description": "hello", "version": {"text": "Hello {{ name }}"}},
    )
    assert created.status_code == 201, created.text
    assert created.json()["latest"]["variables"] == [
        {"name": "name", "type": "string", "required": True, "default": None, "description": ""}
    ]
    again = client.post(url(tenant), headers=tenant.headers("editor"), json={"name": "greeting"})
    assert_error(again, 409, "conflict")
    bad = client.post(url(tenant), headers=tenant.headers("editor"), json={"name": "a b"})
    assert_error(bad, 422, "invalid_request")
    assert_error(client.get(url(tenant, "/nope"), headers=tenant.headers()), 404, "not_found")
    no_create = client.post(
        url(tenant, "/nope/versions"), headers=tenant.headers("editor"), json={"text": "x"}
    )
    assert "create=true" in assert_error(no_create, 404, "not_found")["message"]
    listing = client.get(url(tenant), headers=tenant.headers()).json()
    assert [p["prompt"]["name"] for p in listing] == ["greeting"]
