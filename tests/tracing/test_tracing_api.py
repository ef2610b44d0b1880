"""REST queries on traces: list with filters, one trace's tree, scores."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from otlp_payloads import request

from llmloop.cli.main import main
from llmloop.sdk.client import connect
from llmloop.store.traces_types import Trace
from support import LiveServer, Tenant, assert_error

PB = {"Content-Type": "application/x-protobuf"}


def ingest(client: TestClient, tenant: Tenant, spans: list[dict[str, object]]) -> str:
    req, ids = request(spans)
    response = client.post(
        "/v1/traces", content=req.SerializeToString(), headers={**PB, **tenant.headers("editor")}
    )
    assert response.status_code == 200, response.text
    return ids[0][0]


def test_list_filters_and_detail(client: TestClient, tenant: Tenant) -> None:
    chat = {"gen_ai.request.model": "gpt-4o-mini", "gen_ai.system": "openai",
            "llmloop.tags": "prod", "gen_ai.prompt": "refund please"}  # fmt: skip
    first = ingest(client, tenant, [{"name": "support", "attributes": chat},
                                    {"name": "tool", "parent": 0}])  # fmt: skip
    second = ingest(client, tenant, [{"name": "other", "status": 2}])
    base = f"/api/v1/projects/{tenant.project.name}/traces"
    viewer = tenant.headers("viewer")

    def ids(**params: object) -> list[str]:
        response = client.get(base, params=params, headers=viewer)
        assert response.status_code == 200, response.text
        return [t["trace_id"] for t in response.json()]

    assert set(ids()) == {first, second}
    assert ids(model="gpt-4o-mini") == [first]
    assert ids(status="error") == [second]
    assert ids(tags="prod") == [first]
    assert ids(text="refund") == [first]
    assert ids(name="nothing") == []

    detail = client.get(f"{base}/{first}", headers=viewer).json()
    assert detail["trace"]["span_count"] == 2
    [root] = detail["spans"]
    assert [c["span"]["name"] for c in root["children"]] == ["tool"]

    assert_error(client.get(f"{base}/{'0' * 32}", headers=viewer), 404, "not_found")
    assert_error(client.get(base, params={"status": "weird"}, headers=viewer), 422,
                 "invalid_request")  # fmt: skip
    assert_error(client.get(base, params={"limit": 0}, headers=viewer), 422, "invalid_request")
    assert_error(client.get(base, params={"bogus": 1}, headers=viewer), 422, "invalid_request")


def test_scores_on_traces_and_spans(client: TestClient, tenant: Tenant) -> None:
    trace = ingest(client, tenant, [{"name": "root"}])
    base = f"/api/v1/projects/{tenant.project.name}/traces/{trace}"
    editor = tenant.headers("editor")
    response = client.post(f"{base}/scores", json={"name": "thumbs", "value": True,
                                                   "source": "user"}, headers=editor)  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["target_kind"] == "trace"
    span_id = client.get(base, headers=editor).json()["spans"][0]["span"]["span_id"]
    response = client.post(f"{base}/scores", json={"name": "q", "value": 0.7,
                                                   "source": "judge:local/x",
                                                   "span_id": span_id}, headers=editor)  # fmt: skip
    assert response.status_code == 201
    scores = client.get(base, headers=editor).json()["scores"]
    assert [(s["name"], s["target_kind"], s["source"]) for s in scores] == [
        ("thumbs", "trace", {"kind": "user", "name": None}),
        ("q", "span", {"kind": "judge", "name": "local/x"}),
    ]
    bad = client.post(f"{base}/scores", json={"name": "x", "value": 1, "source": "robot"},
                      headers=editor)  # fmt: skip
    assert "unknown score source" in assert_error(bad, 422, "invalid_request")["message"]
    viewer = client.post(f"{base}/scores", json={"name": "x", "value": 1},
                         headers=tenant.headers("viewer"))  # fmt: skip
    assert_error(viewer, 403, "forbidden")
    missing = client.post(f"/api/v1/projects/{tenant.project.name}/traces/{'1' * 32}/scores",
                          json={"name": "x", "value": 1}, headers=editor)  # fmt: skip
    assert_error(missing, 404, "not_found")
    assert len(client.get(base, headers=editor).json()["scores"]) == 2


def test_sdk_and_cli_read_traces(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = live_server.tenant("sdk-cli")
    with live_server.client() as http:
        req, ids = request([{"name": "ask", "attributes": {"gen_ai.request.model": "m-1"}},
                            {"name": "sub", "parent": 0}])  # fmt: skip
        headers = {**PB, **tenant.headers("editor")}
        assert http.post("/v1/traces", content=req.SerializeToString(), headers=headers).is_success
    trace_id = ids[0][0]
    with connect(live_server.url, api_key=tenant.secret("editor")) as client:
        [trace] = client.traces.list(model="m-1")
        assert isinstance(trace, Trace) and trace.trace_id == trace_id
        assert client.traces.list(model="other") == []
        frame = client.traces.to_pandas()
        assert list(frame["trace_id"]) == [trace_id]
        client.traces.score(trace_id, "thumbs", False, source="user")
        detail = client.traces.get(trace_id)
        assert [s.name for s in detail.scores] == ["thumbs"]

    monkeypatch.setenv("LLMLOOP_SERVER_URL", live_server.url)
    monkeypatch.setenv("LLMLOOP_API_KEY", tenant.secret("viewer"))
    with pytest.raises(SystemExit) as done:
        main(["traces", "list", "--json", "--model", "m-1"])
    assert done.value.code == 0
    assert [t["trace_id"] for t in json.loads(capsys.readouterr().out)] == [trace_id]
    with pytest.raises(SystemExit) as done:
        main(["traces", "show", trace_id])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "ask" in out and "sub" in out and "thumbs" in out
    with pytest.raises(SystemExit) as done:
        main(["traces", "show", "0" * 32])
    assert done.value.code == 1
