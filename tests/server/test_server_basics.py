"""Health, readiness, errors for unknown routes, metrics and the OpenAPI document."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from llmloop import __version__
from llmloop.runtime import Runtime
from llmloop.store.migrate import head_revision
from support import Tenant, assert_error


def test_health(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_ready_when_database_is_migrated(client: TestClient) -> None:
    response = client.get("/api/v1/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}


def test_not_ready_when_schema_is_missing(client: TestClient, runtime: Runtime) -> None:
    with runtime.db.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    response = client.get("/api/v1/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "not_ready",
        "checks": {"database": "ok", "schema": f"at None, code expects {head_revision()}"},
    }


def test_not_ready_when_database_is_unreachable(client: TestClient, runtime: Runtime) -> None:
    working = runtime.db.engine
    runtime.db.engine = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/gone", connect_args={"connect_timeout": 2}
    )
    try:
        response = client.get("/api/v1/ready")
    finally:
        runtime.db.engine.dispose()
        runtime.db.engine = working
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"].startswith("error: OperationalError")
    assert "127.0.0.1" in body["checks"]["database"]
    assert client.get("/api/v1/ready").status_code == 200


def test_unknown_route_is_json_404(client: TestClient) -> None:
    for path in ("/nope", "/api/v1/nope", "/api/v1/projects/acme/nothing-here"):
        error = assert_error(client.get(path), 404, "not_found")
        assert error["message"] == "Not Found"


def test_wrong_method_is_json_405(client: TestClient) -> None:
    assert_error(client.delete("/api/v1/health"), 405, "method_not_allowed")


def test_unknown_project_is_json_404(client: TestClient, tenant: Tenant) -> None:
    error = assert_error(
        client.get("/api/v1/projects/prj_nothing", headers=tenant.headers()), 404, "not_found"
    )
    assert error["message"] == "project 'prj_nothing' not found"


def _samples(metrics_text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` for one metric family in Prometheus text format."""
    found = {}
    for line in metrics_text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def test_metrics_count_requests_by_route_template(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    other = runtime.tenancy.create_project("other", actor="t")
    for project in (tenant.project.name, tenant.project.id, tenant.project.name):
        assert (
            client.get(f"/api/v1/projects/{project}", headers=tenant.headers()).status_code == 200
        )
    assert client.get(f"/api/v1/projects/{other.id}", headers=tenant.headers()).status_code == 404
    assert client.get("/api/v1/projects/acme").status_code == 401
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/no/such/page/123").status_code == 404

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "version=" in response.headers["content-type"]
    text_ = response.text
    assert "# TYPE llmloop_http_requests_total counter" in text_
    requests = _samples(text_, "llmloop_http_requests_total")
    route = 'route="/api/v1/projects/{project}"'
    assert requests[f'method="GET",{route},status="200"'] == 3.0
    assert requests[f'method="GET",{route},status="404"'] == 1.0
    assert requests[f'method="GET",{route},status="401"'] == 1.0
    assert requests['method="GET",route="/api/v1/health",status="200"'] == 1.0
    assert requests['method="GET",route="unmatched",status="404"'] == 1.0
    # the template, never the concrete path (unbounded label values)
    assert tenant.project.id not in text_
    assert "/no/such/page" not in text_
    assert _samples(text_, "llmloop_build_info") == {f'version="{__version__}"': 1.0}
    latency = _samples(text_, "llmloop_http_request_duration_seconds_count")
    assert latency[f'method="GET",{route}'] == 5.0


def test_metrics_tell_api_and_ui_routes_apart(client: TestClient, tenant: Tenant) -> None:
    assert client.get("/api/v1/models", headers=tenant.headers()).status_code == 200
    client.cookies.set("llmloop_key", tenant.secret("viewer"))
    assert client.get("/models").status_code == 200
    requests = _samples(client.get("/metrics").text, "llmloop_http_requests_total")
    assert requests['method="GET",route="/api/v1/models",status="200"'] == 1.0
    assert requests['method="GET",route="/models",status="200"'] == 1.0


def test_openapi_document(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["info"]["title"] == "llmloop"
    assert spec["info"]["version"] == __version__
    paths = spec["paths"]
    for path, method in [
        ("/api/v1/health", "get"),
        ("/api/v1/ready", "get"),
        ("/api/v1/projects", "post"),
        ("/api/v1/projects/{project}", "get"),
        ("/api/v1/projects/{project}/overview", "get"),
        ("/api/v1/projects/{project}/keys", "post"),
        ("/api/v1/projects/{project}/keys/{key_id}/revoke", "post"),
        ("/api/v1/projects/{project}/audit", "get"),
        ("/api/v1/models", "get"),
    ]:
        assert method in paths.get(path, {}), (path, method)
    assert not [p for p in paths if not p.startswith(("/api/v1/", "/v1/"))]
    create_key = paths["/api/v1/projects/{project}/keys"]["post"]
    schema_ref = create_key["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    key_create = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert key_create["properties"]["role"]  # documented
    assert "secret" not in spec["components"]["schemas"]["ApiKey"]["properties"]
    assert client.get("/api/v1/docs").status_code == 200


async def test_async_client_serves_the_api(aclient: httpx.AsyncClient, tenant: Tenant) -> None:
    health = await aclient.get("/api/v1/health")
    assert health.json() == {"status": "ok", "version": __version__}
    project = await aclient.get("/api/v1/projects/acme", headers=tenant.headers("viewer"))
    assert project.status_code == 200
    assert project.json()["id"] == tenant.project.id
    assert_error(await aclient.get("/api/v1/projects/acme"), 401, "unauthenticated")
