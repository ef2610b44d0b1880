"""The deployments REST API: versions bound to prompt versions, stages, moves, bad input."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from llmloop.runtime import Runtime
from llmloop.store.deployments import DeploymentRepository
from support import Tenant, assert_error

CHAT = {
    "messages": [
        {"role": "system", "content": "Classify tickets about {{ product }}."},
        {"role": "user", "content": "{{ ticket }}"},
    ],
    "params": {"temperature": 0.1},
}


def base(tenant: Tenant) -> str:
    return f"/api/v1/projects/{tenant.project.name}"


def make_prompt(client: TestClient, tenant: Tenant, **changes: Any) -> dict[str, Any]:
    body = {**CHAT, **changes, "create": True}
    response = client.post(
        f"{base(tenant)}/prompts/triage/versions", headers=tenant.headers("editor"), json=body
    )
    assert response.status_code == 201, response.text
    return response.json()["version"]


def add_version(client: TestClient, tenant: Tenant, env: str = "production", **spec: Any):  # type: ignore[no-untyped-def]
    body = {
        "prompt": "triage",
        "prompt_version": "latest",
        "model": "scripted/m",
        "create": True,
        **spec,
    }
    return client.post(
        f"{base(tenant)}/deployments/ticket-triage/versions",
        params={"environment": env},
        headers=tenant.headers("editor"),
        json=body,
    )


def test_version_binds_the_resolved_prompt_version_and_first_is_stable(
    client: TestClient, tenant: Tenant
) -> None:
    v1 = make_prompt(client, tenant)
    response = add_version(
        client,
        tenant,
        params={"max_tokens": 50},
        fallbacks=["scripted/backup"],
        guardrails={"pii": "mask"},
    )
    assert response.status_code == 201, response.text
    version = response.json()
    assert version["number"] == 1 and version["prompt_version_id"] == v1["id"]
    assert version["fallbacks"] == ["scripted/backup"]
    make_prompt(client, tenant, params={"temperature": 0.9})  # the label moves; v1 stays bound
    summary = client.get(f"{base(tenant)}/deployments/ticket-triage", headers=tenant.headers())
    body = summary.json()
    assert body["stable"]["id"] == version["id"]
    assert body["arms"] == {"v1": 1.0}
    got = client.get(
        f"{base(tenant)}/deployments/ticket-triage/versions/v1", headers=tenant.headers()
    )
    assert got.json()["prompt_version_id"] == v1["id"]


def test_missing_prompt_or_version_is_422_and_writes_nothing(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    make_prompt(client, tenant)
    error = assert_error(add_version(client, tenant, prompt="nope"), 422, "invalid_request")
    assert "prompt 'nope' not found" in error["message"]
    assert error["details"][0]["field"] == "prompt"
    error = assert_error(add_version(client, tenant, prompt_version="v7"), 422, "invalid_request")
    assert "prompt 'triage' has no version 'v7'" in error["message"]
    assert error["details"][0]["field"] == "prompt_version"
    error = assert_error(add_version(client, tenant, model="gpt4"), 422, "invalid_request")
    assert "model 'gpt4' is not a model reference" in error["message"]
    error = assert_error(
        add_version(client, tenant, fallbacks=["ok/x", "bad"]), 422, "invalid_request"
    )
    assert "fallbacks[1] 'bad'" in error["message"]
    assert_error(add_version(client, tenant, env="Prod!"), 422, "invalid_request")
    assert DeploymentRepository(runtime.db).list(tenant.project.id) == []


def test_environments_are_kept_apart(client: TestClient, tenant: Tenant) -> None:
    make_prompt(client, tenant)
    assert add_version(client, tenant, env="staging", model="scripted/new").status_code == 201
    assert add_version(client, tenant, env="staging", model="scripted/newer").status_code == 201
    assert add_version(client, tenant, model="scripted/old").status_code == 201
    listing = client.get(f"{base(tenant)}/deployments", headers=tenant.headers()).json()
    assert [(d["deployment"]["environment"], d["versions"]) for d in listing] == [
        ("production", 1),
        ("staging", 2),
    ]
    prod = client.get(
        f"{base(tenant)}/deployments/ticket-triage/versions", headers=tenant.headers()
    ).json()
    assert [v["model"] for v in prod] == ["scripted/old"]
    missing = client.get(
        f"{base(tenant)}/deployments/ticket-triage",
        params={"environment": "dev"},
        headers=tenant.headers(),
    )
    assert "not found in environment 'dev'" in assert_error(missing, 404, "not_found")["message"]


def test_promote_and_rollback_move_pointers_with_reasons_in_the_audit_log(
    client: TestClient, tenant: Tenant
) -> None:
    make_prompt(client, tenant)
    for model in ("scripted/a", "scripted/b"):
        assert add_version(client, tenant, model=model).status_code == 201
    url = f"{base(tenant)}/deployments/ticket-triage"
    editor = tenant.headers("editor")
    no_reason = client.post(f"{url}/promote", headers=editor, json={"version": "v2"})
    assert_error(no_reason, 422, "invalid_request")
    promoted = client.post(
        f"{url}/promote", headers=editor, json={"version": "v2", "reason": "better triage accuracy"}
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["stable"]["number"] == 2
    assert promoted.json()["previous"]["number"] == 1
    back = client.post(f"{url}/rollback", headers=editor, json={"reason": "complaints rose"})
    assert back.status_code == 200, back.text
    assert back.json()["stable"]["number"] == 1
    summary = client.get(url, headers=tenant.headers()).json()
    aliases = {a["name"]: a["version_id"] for a in summary["aliases"]}
    versions = {v["number"]: v["id"] for v in client.get(f"{url}/versions", headers=editor).json()}
    assert aliases == {"stable": versions[1], "previous": versions[2]}
    audit = client.get(
        f"{base(tenant)}/audit", params={"object_type": "deployment"}, headers=tenant.headers()
    ).json()
    moves = [
        (e["action"], e["reason"], e["data"].get("version"))
        for e in audit
        if e["action"] in ("deployment.promote", "deployment.rollback")
    ]
    assert moves == [
        ("deployment.rollback", "complaints rose", "v1"),
        ("deployment.promote", "better triage accuracy", "v2"),
    ]
    again = client.post(f"{url}/promote", headers=editor, json={"version": "v1", "reason": "x"})
    assert "already stable" in assert_error(again, 422, "invalid_request")["message"]


def test_split_stops_canary_on_rollback_and_validates_input(
    client: TestClient, tenant: Tenant
) -> None:
    make_prompt(client, tenant)
    for model in ("scripted/a", "scripted/b", "scripted/c"):
        add_version(client, tenant, model=model)
    url = f"{base(tenant)}/deployments/ticket-triage"
    editor = tenant.headers("editor")
    split = {
        "split": [{"version": "stable", "weight": 90}, {"version": "v2", "weight": 10}],
        "sticky_by": "user",
        "shadow": "v3",
        "reason": "canary of v2",
    }
    response = client.put(f"{url}/routing", headers=editor, json=split)
    assert response.status_code == 200, response.text
    assert response.json()["arms"] == {"v1": 0.9, "v2": 0.1}
    assert response.json()["shadow"] == "v3"
    bad = [
        ({"split": [{"version": "v9", "weight": 1}]}, "has no version 'v9'"),
        ({"split": [{"version": "v1", "weight": 1}, {"version": "v1", "weight": 2}]}, "twice"),
        ({"split": [{"version": "v1", "weight": 0}]}, "greater than 0"),
        ({"split": [], "sticky_by": "ip"}, "sticky_by"),
    ]
    for body, message in bad:
        error = assert_error(
            client.put(f"{url}/routing", headers=editor, json=body), 422, "invalid_request"
        )
        assert message in str(error), (body, error)
    assert client.get(url, headers=editor).json()["arms"] == {"v1": 0.9, "v2": 0.1}
    stopped = client.post(f"{url}/rollback", headers=editor, json={"reason": "errors up"})
    assert stopped.json()["removed_arms"] == ["v2"]
    after = client.get(url, headers=editor).json()
    assert after["arms"] == {"v1": 1.0} and after["stable"]["number"] == 1
    assert after["deployment"]["routing"]["sticky_by"] == "user"


def test_roles_and_unknown_objects(client: TestClient, tenant: Tenant) -> None:
    make_prompt(client, tenant)
    url = f"{base(tenant)}/deployments/ticket-triage/versions"
    body = {"prompt": "triage", "model": "scripted/m", "create": True}
    assert_error(client.post(url, headers=tenant.headers("viewer"), json=body), 403, "forbidden")
    assert client.post(url, headers=tenant.headers("editor"), json=body).status_code == 201
    missing = client.post(
        f"{base(tenant)}/deployments/nope/promote",
        headers=tenant.headers("editor"),
        json={"version": "v1", "reason": "r"},
    )
    assert_error(missing, 404, "not_found")
    no_create = client.post(
        f"{base(tenant)}/deployments/other/versions",
        headers=tenant.headers("editor"),
        json={**body, "create": False},
    )
    assert "create it first" in assert_error(no_create, 404, "not_found")["message"]
    duplicate = client.post(
        f"{base(tenant)}/deployments",
        headers=tenant.headers("editor"),
        json={"name": "ticket-triage"},
    )
    assert_error(duplicate, 409, "conflict")
    bad_name = client.post(
        f"{base(tenant)}/deployments", headers=tenant.headers("editor"), json={"name": "has space"}
    )
    assert_error(bad_name, 422, "invalid_request")


def test_policy_is_stored_and_audited(client: TestClient, tenant: Tenant) -> None:
    make_prompt(client, tenant)
    add_version(client, tenant)
    url = f"{base(tenant)}/deployments/ticket-triage/policy"
    body = {
        "auto_rollback": True,
        "alpha": 0.01,
        "min_samples": 50,
        "metrics": ["error_rate", "feedback"],
        "reason": "guard the canary",
    }
    response = client.put(url, headers=tenant.headers("editor"), json=body)
    assert response.status_code == 200, response.text
    assert response.json()["policy"]["alpha"] == 0.01
    bad = client.put(url, headers=tenant.headers("editor"), json={"alpha": 0.9})
    assert_error(bad, 422, "invalid_request")
    audit = client.get(
        f"{base(tenant)}/audit", params={"object_type": "deployment"}, headers=tenant.headers()
    ).json()
    assert audit[0]["action"] == "deployment.policy"
    assert audit[0]["reason"] == "guard the canary"
