"""End-user feedback: public keys write feedback and nothing else, CORS, limits, bad input."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from spans_factory import make_span, new_trace_id

from llmloop.runtime import Runtime
from llmloop.server.api.feedback import RateLimiter
from llmloop.server.app import create_app
from llmloop.settings import Settings
from llmloop.store.traces import TraceRepository
from support import Tenant, assert_error

ORIGIN = "http://127.0.0.1:9999"
PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def a_trace(runtime: Runtime, tenant: Tenant) -> tuple[str, str]:
    """One stored trace with a root and a child span; returns (trace id, child span id)."""
    trace_id = new_trace_id()
    root = make_span(trace_id, name="answer", inputs={"q": "hi"}, outputs={"a": "hello"})
    child = make_span(trace_id, name="llm", parent_span_id=root.span_id)
    TraceRepository(runtime.db).insert(tenant.project.id, [root, child])
    return trace_id, child.span_id


def url(tenant: Tenant) -> str:
    return f"/api/v1/projects/{tenant.project.name}/feedback"


def test_public_key_posts_feedback_stored_as_a_user_score(
    client: TestClient, runtime: Runtime, tenant: Tenant
) -> None:
    trace_id, span_id = a_trace(runtime, tenant)
    thumbs = {"trace_id": trace_id, "name": "thumbs", "value": False,
              "comment": "wrong order number", "user_id": "u-42"}  # fmt: skip
    response = client.post(url(tenant), json=thumbs, headers=tenant.public_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["value"] is False and body["source"] == {"kind": "user", "name": "u-42"}
    rating = {"trace_id": trace_id.upper(), "span_id": span_id, "name": "rating", "value": 4}
    assert client.post(url(tenant), json=rating, headers=tenant.public_headers).status_code == 201
    label = {"trace_id": trace_id, "value": "too long"}
    editor = client.post(url(tenant), json=label, headers=tenant.headers("editor"))
    assert editor.status_code == 201, editor.text

    detail = client.get(
        f"/api/v1/projects/{tenant.project.name}/traces/{trace_id}", headers=tenant.headers()
    ).json()
    found = [(s["name"], s["value"], s["target_kind"], s["target_id"], s["source"], s["rationale"])
             for s in detail["scores"]]  # fmt: skip
    assert found == [
        ("thumbs", False, "trace", trace_id, {"kind": "user", "name": "u-42"},
         "wrong order number"),
        ("rating", 4, "span", span_id, {"kind": "user", "name": None}, None),
        ("feedback", "too long", "trace", trace_id, {"kind": "user", "name": None}, None),
    ]  # fmt: skip


def test_viewer_keys_and_other_projects_cannot_post_feedback(
    client: TestClient, runtime: Runtime, tenant: Tenant, tenant_factory
) -> None:
    trace_id, _ = a_trace(runtime, tenant)
    body = {"trace_id": trace_id, "value": True}
    error = assert_error(client.post(url(tenant), json=body, headers=tenant.headers("viewer")),
                         403, "forbidden")  # fmt: skip
    assert "'editor' role" in error["message"]
    assert_error(client.post(url(tenant), json=body), 401, "unauthenticated")
    other = tenant_factory("other")
    # a public key of another project: the project in the path is not its own
    assert_error(client.post(url(tenant), json=body, headers=other.public_headers), 404,
                 "not_found")  # fmt: skip
    # and its own project does not have the trace
    assert_error(client.post(url(other), json=body, headers=other.public_headers), 404,
                 "not_found")  # fmt: skip
    runtime.tenancy.revoke_key(tenant.project.id, tenant.public_key.id, actor="t")
    assert_error(client.post(url(tenant), json=body, headers=tenant.public_headers), 401,
                 "unauthenticated")  # fmt: skip
    assert TraceRepository(runtime.db).scores(tenant.project.id, trace_id) == []


def test_a_public_key_gets_403_on_every_other_api_route(
    app, client: TestClient, runtime: Runtime, tenant: Tenant
) -> None:
    trace_id, _ = a_trace(runtime, tenant)
    checked = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if not isinstance(route, APIRoute) or not path:
            continue
        for method in sorted(context.methods or ()):
            if method == "HEAD" or path.endswith("/feedback"):
                continue
            target = PARAM.sub(lambda m: tenant.project.name if m.group(1) == "project"
                               else trace_id, path)  # fmt: skip
            response = client.request(
                method, target, headers=tenant.public_headers, json={}, follow_redirects=False
            )
            if path.startswith(("/api/", "/v1/")):
                if path in ("/api/v1/health", "/api/v1/ready"):
                    continue  # liveness and readiness answer everyone
                error = assert_error(response, 403, "forbidden")
                assert "public ingestion key may only send end-user feedback" in error["message"]
            elif path in ("/login", "/logout"):
                continue  # signing in with a public key is refused (test_server_ui_routes)
            else:  # UI pages treat a public key as no key at all (422: form fields missing)
                assert response.status_code in (303, 401, 422), (method, path, response.text)
                if response.status_code == 303:
                    assert response.headers["location"].startswith("/login")
            checked.append(f"{method} {path}")
    assert len(checked) >= 25
    assert TraceRepository(runtime.db).scores(tenant.project.id, trace_id) == []


def test_bad_feedback_is_refused_naming_the_field(
    client: TestClient, runtime: Runtime, tenant: Tenant
) -> None:
    trace_id, _ = a_trace(runtime, tenant)
    headers = tenant.public_headers
    cases = [
        ({"value": True}, "trace_id"),
        ({"trace_id": "nothex", "value": True}, "trace_id"),
        ({"trace_id": trace_id}, "value"),
        ({"trace_id": trace_id, "value": ""}, "value"),
        ({"trace_id": trace_id, "value": "x" * 201}, "value"),
        ({"trace_id": trace_id, "value": True, "span_id": "12"}, "span_id"),
        ({"trace_id": trace_id, "value": True, "stars": 5}, "stars"),
        ({"trace_id": trace_id, "value": True, "comment": "x" * 5001}, "comment"),
        ({"trace_id": trace_id, "value": True, "user_id": "a\nb"}, "user_id"),
        ({"trace_id": trace_id, "value": {"nested": 1}}, "value"),
    ]
    for body, field in cases:
        error = assert_error(client.post(url(tenant), json=body, headers=headers), 422,
                             "invalid_request")  # fmt: skip
        assert any(d["field"].startswith(field) for d in error["details"]), (body, error)
    nan = f'{{"trace_id": "{trace_id}", "value": NaN}}'
    response = client.post(url(tenant), content=nan,
                           headers={**headers, "Content-Type": "application/json"})  # fmt: skip
    assert_error(response, 422, "invalid_request")
    broken = client.post(url(tenant), content="{not json",
                         headers={**headers, "Content-Type": "application/json"})  # fmt: skip
    assert_error(broken, 422, "invalid_request")
    missing = client.post(url(tenant), json={"trace_id": "f" * 32, "value": 1}, headers=headers)
    assert (
        "trace 'ffffffffffffffffffffffffffffffff' not found"
        in assert_error(missing, 404, "not_found")["message"]
    )
    wrong_span = {"trace_id": trace_id, "span_id": "0" * 16, "value": 1}
    assert_error(client.post(url(tenant), json=wrong_span, headers=headers), 404, "not_found")
    huge = {"trace_id": trace_id, "value": True, "comment": "x" * (11 * 1024 * 1024)}
    assert_error(client.post(url(tenant), json=huge, headers=headers), 413, "request_too_large")
    assert TraceRepository(runtime.db).scores(tenant.project.id, trace_id) == []


def test_cors_preflight_and_headers_only_on_the_feedback_route(
    client: TestClient, runtime: Runtime, tenant: Tenant
) -> None:
    trace_id, _ = a_trace(runtime, tenant)
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip
    answer = client.options(url(tenant), headers=preflight)
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "Authorization" in answer.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in answer.headers

    posted = client.post(url(tenant), json={"trace_id": trace_id, "value": True},
                         headers={**tenant.public_headers, "Origin": ORIGIN})  # fmt: skip
    assert posted.status_code == 201 and posted.headers["access-control-allow-origin"] == "*"
    refused = client.post(url(tenant), json={"trace_id": trace_id},
                          headers={**tenant.public_headers, "Origin": ORIGIN})  # fmt: skip
    assert refused.status_code == 422 and refused.headers["access-control-allow-origin"] == "*"

    other = f"/api/v1/projects/{tenant.project.name}/traces"
    assert "access-control-allow-origin" not in client.options(other, headers=preflight).headers
    listed = client.get(other, headers={**tenant.headers("viewer"), "Origin": ORIGIN})
    assert listed.status_code == 200 and "access-control-allow-origin" not in listed.headers
    wrong_method = {**preflight, "Access-Control-Request-Method": "DELETE"}
    assert_error(client.options(url(tenant), headers=wrong_method), 403, "forbidden")


def test_allowed_origins_setting_restricts_cors(runtime: Runtime, tenant: Tenant) -> None:
    settings = Settings(
        data_dir=runtime.settings.data_dir,
        database_url=runtime.settings.database_url,
        feedback_allowed_origins="https://shop.example.com, https://app.example.com/",
    )
    app = create_app(Runtime(settings, db=runtime.db))
    with TestClient(app) as client:
        trace_id, _ = a_trace(runtime, tenant)
        ok = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
        answer = client.options(url(tenant), headers=ok)
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == "https://app.example.com"
        assert answer.headers["vary"] == "Origin"
        evil = {**ok, "Origin": "https://evil.example.net"}
        error = assert_error(client.options(url(tenant), headers=evil), 403, "forbidden")
        assert "LLMLOOP_FEEDBACK_ALLOWED_ORIGINS" in error["message"]
        posted = client.post(
            url(tenant),
            json={"trace_id": trace_id, "value": 1},
            headers={**tenant.public_headers, "Origin": "https://evil.example.net"},
        )
        assert posted.status_code == 201  # not a browser: CORS does not apply
        assert "access-control-allow-origin" not in posted.headers


def test_feedback_is_rate_limited_per_key(runtime: Runtime, tenant: Tenant) -> None:
    settings = Settings(
        data_dir=runtime.settings.data_dir,
        database_url=runtime.settings.database_url,
        feedback_per_minute=3,
    )
    app = create_app(Runtime(settings, db=runtime.db))
    with TestClient(app) as client:
        trace_id, _ = a_trace(runtime, tenant)
        body = {"trace_id": trace_id, "value": True}
        for _ in range(3):
            assert client.post(url(tenant), json=body, headers=tenant.public_headers).is_success
        limited = client.post(url(tenant), json=body, headers=tenant.public_headers)
        error = assert_error(limited, 429, "rate_limited")
        assert "LLMLOOP_FEEDBACK_PER_MINUTE" in error["message"]
        assert 1 <= int(limited.headers["retry-after"]) <= 20
        # another key has its own bucket
        assert client.post(url(tenant), json=body, headers=tenant.headers("editor")).is_success
    assert len(TraceRepository(runtime.db).scores(tenant.project.id, trace_id)) == 4


def test_rate_limiter_refills_evenly() -> None:
    limiter = RateLimiter(per_minute=60)
    key = ("k", "127.0.0.1")
    assert [limiter.wait_s(key, now=0.0) for _ in range(60)] == [0.0] * 60
    assert limiter.wait_s(key, now=0.0) == 1.0
    assert limiter.wait_s(key, now=1.0) == 0.0  # one token back after a second
    assert limiter.wait_s(key, now=1.5) == 0.5
    assert limiter.wait_s(("other", "127.0.0.1"), now=1.5) == 0.0
    for i in range(20_000):
        limiter.wait_s((f"k{i}", "a"), now=2.0)
    assert len(limiter.buckets) == 10_000  # bounded memory: the least recently seen dropped
