"""Retention over the API, SDK and CLI: old traces of one project go, the rest stays."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from spans_factory import make_span, new_trace_id

from llmloop.cli.main import main
from llmloop.records import Score
from llmloop.runtime import Runtime
from llmloop.sdk.client import connect
from llmloop.server.api.traces import parse_duration
from llmloop.store.traces import TraceRepository
from support import LiveServer, Tenant, assert_error


def aged(runtime: Runtime, tenant: Tenant, days: float) -> str:
    """A trace of two spans (and a score) that started ``days`` ago."""
    trace_id = new_trace_id()
    start = datetime.now(UTC) - timedelta(days=days)
    root = make_span(trace_id, name=f"{days}d", start_time=start, tags=["t"])
    child = make_span(trace_id, name="child", parent_span_id=root.span_id, start_time=start)
    repo = TraceRepository(runtime.db)
    repo.insert(tenant.project.id, [root, child])
    repo.add_score(tenant.project.id, trace_id,
                   Score(target_kind="trace", target_id=trace_id, name="ok", value=True,
                         source="human"))  # fmt: skip
    return trace_id


def test_prune_deletes_old_traces_of_the_project_only(
    client: TestClient, runtime: Runtime, tenant: Tenant, tenant_factory
) -> None:
    old, recent = aged(runtime, tenant, 40), aged(runtime, tenant, 2)
    other = tenant_factory("other")
    others_old = aged(runtime, other, 40)
    url = f"/api/v1/projects/{tenant.project.name}/traces/prune"
    response = client.post(url, json={"older_than": "30d"}, headers=tenant.headers("admin"))
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["traces"], result["spans"], result["scores"]) == (1, 2, 1)
    before = datetime.fromisoformat(result["before"])
    assert abs((datetime.now(UTC) - timedelta(days=30) - before).total_seconds()) < 60
    repo = TraceRepository(runtime.db)
    assert [t.trace_id for t in repo.list(tenant.project.id)] == [recent]
    assert repo.spans(tenant.project.id, old) == [] and repo.scores(tenant.project.id, old) == []
    assert [t.trace_id for t in repo.list(other.project.id)] == [others_old]
    [event] = runtime.tenancy.audit.list(tenant.project.id, object_type="traces")
    assert event.action == "traces.prune" and event.data["traces"] == 1
    again = client.post(url, json={"older_than": "30d"}, headers=tenant.headers("admin")).json()
    assert again["traces"] == 0


def test_prune_needs_an_admin_and_a_valid_duration(
    client: TestClient, runtime: Runtime, tenant: Tenant
) -> None:
    old = aged(runtime, tenant, 40)
    url = f"/api/v1/projects/{tenant.project.name}/traces/prune"
    for headers in (tenant.headers("viewer"), tenant.headers("editor"), tenant.public_headers):
        assert_error(client.post(url, json={"older_than": "1d"}, headers=headers), 403,
                     "forbidden")  # fmt: skip
    admin = tenant.headers("admin")
    for body, field in [
        ({}, "older_than"),
        ({"older_than": "30"}, "older_than"),
        ({"older_than": "thirty days"}, "older_than"),
        ({"older_than": "0d"}, "older_than"),
        ({"older_than": "-3d"}, "older_than"),
        ({"older_than": "1y"}, "older_than"),
        ({"older_than": "30d", "batch_size": 1}, "batch_size"),
    ]:
        error = assert_error(client.post(url, json=body, headers=admin), 422, "invalid_request")
        assert error["details"][0]["field"] == field, body
    assert len(TraceRepository(runtime.db).spans(tenant.project.id, old)) == 2


def test_durations() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration(" 12h ") == timedelta(hours=12)
    assert parse_duration("1.5w") == timedelta(weeks=1.5)
    assert parse_duration("90m") == timedelta(minutes=90)
    for bad in ("", "d", "10", "10 days", "0s", "1y"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_sdk_and_cli_prune(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = live_server.tenant("retention")
    runtime = live_server.runtime
    aged(runtime, tenant, 10)
    aged(runtime, tenant, 100)
    with connect(live_server.url, api_key=tenant.secret("admin")) as client:
        result = client.traces.prune("60d", batch_size=10)
        assert (result.traces, result.spans) == (1, 2)

    monkeypatch.setenv("LLMLOOP_SERVER_URL", live_server.url)
    monkeypatch.setenv("LLMLOOP_API_KEY", tenant.secret("admin"))
    with pytest.raises(SystemExit) as done:
        main(["traces", "prune", "--older-than", "5d", "--project", tenant.project.name, "--json"])
    assert done.value.code == 0
    assert json.loads(capsys.readouterr().out)["traces"] == 1
    with pytest.raises(SystemExit) as done:
        main(["traces", "prune", "--older-than", "5d", "--project", tenant.project.name])
    assert done.value.code == 0
    assert "deleted 0 traces (0 spans, 0 scores)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["traces", "prune", "--older-than", "soon", "--project", tenant.project.name])
    assert done.value.code == 1 and "not a duration" in capsys.readouterr().err
    assert TraceRepository(runtime.db).list(tenant.project.id) == []
