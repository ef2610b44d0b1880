"""Bad requests answer 422 with field paths in the one error shape, never 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmloop.runtime import Runtime
from support import Tenant, assert_error

KEYS_URL = "/api/v1/projects/acme/keys"


def fields(error: dict[str, Any]) -> list[str]:
    return [problem["field"] for problem in error["details"]]


@pytest.mark.parametrize(
    ("body", "expected_fields", "type_"),
    [
        ({"name": "ci", "role": "superuser"}, ["role"], "enum"),
        ({"name": "", "role": "viewer"}, ["name"], "string_too_short"),
        ({"name": "x" * 201}, ["name"], "string_too_long"),
        ({"role": "viewer"}, ["name"], "missing"),
        ({"name": 12}, ["name"], "string_type"),
        ({"name": "ci", "public": "maybe"}, ["public"], "bool_parsing"),
        (["name", "ci"], ["body"], "model_attributes_type"),
    ],
)
def test_invalid_key_body_is_422_with_field_paths(
    client: TestClient,
    tenant: Tenant,
    runtime: Runtime,
    body: object,
    expected_fields: list[str],
    type_: str,
) -> None:
    response = client.post(KEYS_URL, headers=tenant.headers(), json=body)
    error = assert_error(response, 422, "invalid_request")
    assert fields(error) == expected_fields
    assert error["details"][0]["type"] == type_
    assert error["message"].startswith(f"invalid request: {expected_fields[0]}: ")
    assert len(runtime.tenancy.keys.list(tenant.project.id)) == 4


def test_missing_body_is_422(client: TestClient, tenant: Tenant) -> None:
    error = assert_error(client.post(KEYS_URL, headers=tenant.headers()), 422, "invalid_request")
    assert error["details"] == [{"field": "body", "message": "Field required", "type": "missing"}]


def test_malformed_json_is_422(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        KEYS_URL,
        headers={**tenant.headers(), "content-type": "application/json"},
        content=b'{"name": "ci",',
    )
    error = assert_error(response, 422, "invalid_request")
    assert error["details"][0]["type"] == "json_invalid"
    assert "JSON decode error" in error["message"]


def test_blank_key_name_is_422(client: TestClient, tenant: Tenant) -> None:
    response = client.post(KEYS_URL, headers=tenant.headers(), json={"name": "   "})
    error = assert_error(response, 422, "invalid_request")
    assert error["message"] == "a key needs a non-empty name"


@pytest.mark.parametrize("name", ["Bad Name!", "UPPER", "-dash-first", "a b"])
def test_invalid_project_name_is_422_naming_the_field(
    client: TestClient, tenant: Tenant, runtime: Runtime, name: str
) -> None:
    response = client.post("/api/v1/projects", headers=tenant.headers(), json={"name": name})
    error = assert_error(response, 422, "invalid_request")
    assert fields(error) == ["name"]
    assert error["message"].startswith(f"project name {name!r} is invalid: use 1-63 lowercase")
    assert [p.name for p in runtime.tenancy.projects.list()] == ["acme"]


def test_invalid_query_parameter_is_422(client: TestClient, tenant: Tenant) -> None:
    for limit, type_ in (("0", "greater_than_equal"), ("lots", "int_parsing")):
        response = client.get(
            "/api/v1/projects/acme/audit", params={"limit": limit}, headers=tenant.headers()
        )
        error = assert_error(response, 422, "invalid_request")
        assert error["details"] == [
            {"field": "limit", "message": error["details"][0]["message"], "type": type_}
        ]


def test_revoking_an_unknown_key_is_404(client: TestClient, tenant: Tenant) -> None:
    response = client.post(f"{KEYS_URL}/key_nope/revoke", headers=tenant.headers())
    error = assert_error(response, 404, "not_found")
    assert error["message"] == "API key 'key_nope' not found in this project"


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
KEY_BODIES = (
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.text(max_size=210) | JSON,
            "role": st.sampled_from(["viewer", "editor", "admin", "owner", ""]) | JSON,
            "public": st.booleans() | JSON,
        },
    )
    | JSON
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=KEY_BODIES)
def test_any_json_body_gets_201_or_422_never_500(
    client: TestClient, tenant: Tenant, body: object
) -> None:
    response = client.post(KEYS_URL, headers=tenant.headers(), json=body)
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert_error(response, 422, "invalid_request")
    else:
        assert response.json()["key"]["name"] == body["name"]  # type: ignore[index]


def test_nul_character_in_a_name_is_422(client: TestClient, tenant: Tenant) -> None:
    response = client.post(KEYS_URL, headers=tenant.headers(), json={"name": "ci\x00bot"})
    error = assert_error(response, 422, "invalid_request")
    assert fields(error) == ["name"]


def test_nul_character_in_free_text_is_never_500(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    response = client.post(
        "/api/v1/projects", headers=tenant.headers(), json={"name": "nul", "description": "a\x00b"}
    )
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:  # PostgreSQL text cannot hold NUL; SQLite can
        error = assert_error(response, 422, "invalid_request")
        assert error["message"].startswith("invalid request: a value cannot be stored:")
        assert [p.name for p in runtime.tenancy.projects.list()] == ["acme"]
