"""Traces into a dataset as records linked to their source trace: API, SDK and CLI."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from spans_factory import BASE, make_span, new_trace_id

from llmloop.cli.main import main
from llmloop.data.datasets import Datasets
from llmloop.data.from_traces import record_of_trace
from llmloop.runtime import Runtime
from llmloop.sdk.client import connect
from llmloop.store.traces import TraceRepository
from support import LiveServer, Tenant, assert_error


def store_trace(runtime: Runtime, tenant: Tenant, question: str, **root: object) -> str:
    """A trace whose root has ``question`` as input and a child LLM span with the model."""
    trace_id = new_trace_id()
    fields = {"inputs": {"question": question}, "outputs": {"answer": f"re: {question}"},
              "user_id": "u1", "tags": ["prod"], **root}  # fmt: skip
    top = make_span(trace_id, name="support", **fields)
    llm = make_span(trace_id, name="chat", kind="llm", parent_span_id=top.span_id,
                    model="gpt-4o-mini", inputs=[{"role": "user", "content": question}],
                    start_time=BASE + timedelta(milliseconds=5))  # fmt: skip
    TraceRepository(runtime.db).insert(tenant.project.id, [top, llm])
    return trace_id


def records(runtime: Runtime, tenant: Tenant, name: str) -> list[dict[str, object]]:
    found = Datasets(runtime.db, runtime.tenancy.audit).records(tenant.project.id, name)
    return [r.model_dump(mode="json") for r in found]


def test_traces_become_linked_records_in_a_new_version(
    client: TestClient, runtime: Runtime, tenant: Tenant
) -> None:
    first = store_trace(runtime, tenant, "where is my refund?")
    second = store_trace(runtime, tenant, "cancel my order", session_id="s-9")
    url = f"/api/v1/projects/{tenant.project.name}/datasets/support/records/from-traces"
    editor = tenant.headers("editor")
    body = {"trace_ids": [first], "create": True, "expectations_from_outputs": True}
    response = client.post(url, json=body, headers=editor)
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["created"] is True and made["added"] == [first] and made["skipped"] == []
    assert made["version"]["number"] == 1 and made["version"]["record_count"] == 1
    [record] = records(runtime, tenant, "support")
    assert record["id"] == first
    assert record["inputs"] == {"question": "where is my refund?"}
    assert record["outputs"] == record["expectations"] == {"answer": "re: where is my refund?"}
    assert record["source"] == {"kind": "trace", "ref": first}
    assert record["metadata"] == {
        "source_trace_id": first, "trace_name": "support", "model": "gpt-4o-mini",
        "user_id": "u1", "tags": ["prod"],
    }  # fmt: skip

    again = client.post(url, json={"trace_ids": [second, first]}, headers=editor).json()
    assert again["added"] == [second] and again["created"] is True
    assert again["skipped"] == [{"trace_id": first, "reason": "already in the dataset"}]
    assert (
        again["version"]["number"] == 2 and again["version"]["parent_id"] == made["version"]["id"]
    )
    stored = records(runtime, tenant, "support")
    assert [r["id"] for r in stored] == [first, second]
    assert stored[1]["expectations"] is None and stored[1]["metadata"]["session_id"] == "s-9"

    same = client.post(url, json={"trace_ids": [first, second]}, headers=editor).json()
    assert same["created"] is False and same["added"] == [] and same["version"]["number"] == 2
    events = runtime.tenancy.audit.list(tenant.project.id, object_type="dataset")
    assert sum(e.action == "dataset.version.create" for e in events) == 2


def test_a_filter_selects_the_traces(client: TestClient, runtime: Runtime, tenant: Tenant) -> None:
    wanted = store_trace(runtime, tenant, "refund please", user_id="alice")
    store_trace(runtime, tenant, "hello", user_id="bob")
    url = f"/api/v1/projects/{tenant.project.name}/datasets/alice/records/from-traces"
    body = {"filter": {"user_id": "alice"}, "create": True}
    made = client.post(url, json=body, headers=tenant.headers("editor"))
    assert made.status_code == 201, made.text
    assert made.json()["added"] == [wanted]
    nothing = {"filter": {"user_id": "nobody"}, "create": True}
    error = assert_error(client.post(url, json=nothing, headers=tenant.headers("editor")), 422,
                         "invalid_request")  # fmt: skip
    assert "at least one trace" in error["message"]


def test_bad_requests_change_nothing(client: TestClient, runtime: Runtime, tenant: Tenant) -> None:
    known = store_trace(runtime, tenant, "q")
    no_inputs = new_trace_id()
    TraceRepository(runtime.db).insert(tenant.project.id, [make_span(no_inputs, name="bare")])
    base = f"/api/v1/projects/{tenant.project.name}/datasets"
    url = f"{base}/d1/records/from-traces"
    editor = tenant.headers("editor")
    missing = "e" * 32
    error = assert_error(client.post(url, json={"trace_ids": [known, missing], "create": True},
                                     headers=editor), 404, "not_found")  # fmt: skip
    assert missing in error["message"] and error["details"]["missing_trace_ids"] == [missing]
    assert_error(client.post(url, json={"trace_ids": [known]}, headers=editor), 404, "not_found")
    for body, field in [
        ({}, "trace_ids or filter"),
        ({"trace_ids": [known], "filter": {}}, "exactly one"),
        ({"trace_ids": ["xyz"], "create": True}, "32 hex"),
        ({"trace_ids": []}, "at least one"),
        ({"trace_ids": [known] * 1001}, "trace_ids"),
        ({"filter": {"status": "weird"}}, "status"),
        ({"trace_ids": [known], "create": True, "message": "m" * 2001}, "message"),
    ]:
        error = assert_error(client.post(url, json=body, headers=editor), 422, "invalid_request")
        assert field in json.dumps(error), (body, error)
    bad_name = f"{base}/-bad-/records/from-traces"
    assert_error(client.post(bad_name, json={"trace_ids": [known], "create": True},
                             headers=editor), 422, "invalid_request")  # fmt: skip
    only_bare = client.post(url, json={"trace_ids": [no_inputs], "create": True}, headers=editor)
    assert "no span recorded inputs" in assert_error(only_bare, 422, "invalid_request")["message"]
    viewer = client.post(url, json={"trace_ids": [known], "create": True},
                         headers=tenant.headers("viewer"))  # fmt: skip
    assert_error(viewer, 403, "forbidden")
    assert client.get(base, headers=editor).json() == []  # no dataset was created

    mixed = client.post(url, json={"trace_ids": [known, no_inputs], "create": True},
                        headers=editor).json()  # fmt: skip
    assert mixed["added"] == [known]
    assert mixed["skipped"] == [{"trace_id": no_inputs, "reason": "no span recorded inputs"}]


def test_record_of_trace_wraps_plain_values_and_falls_back_to_children() -> None:
    trace_id = new_trace_id()
    root = make_span(trace_id, name="handler")  # no inputs on the root
    child = make_span(trace_id, name="llm", parent_span_id=root.span_id, inputs="hi there",
                      outputs=["a", "b"], start_time=BASE + timedelta(milliseconds=1))  # fmt: skip
    record = record_of_trace(trace_id, [child, root], expectations=True)
    assert record is not None
    assert record.inputs == {"input": "hi there"}
    assert record.outputs == record.expectations == {"output": ["a", "b"]}
    assert record.metadata == {"source_trace_id": trace_id, "trace_name": "handler"}
    assert record_of_trace(trace_id, [root]) is None
    assert record_of_trace(trace_id, []) is None


def test_sdk_and_cli_add_traces_to_a_dataset(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = live_server.tenant("to-dataset")
    runtime = live_server.runtime
    one = store_trace(runtime, tenant, "first question", user_id="carol")
    two = store_trace(runtime, tenant, "second question", user_id="dave")
    with connect(live_server.url, api_key=tenant.secret("editor")) as client:
        added = client.traces.add_to_dataset("golden-candidates", [one], create=True)
        assert added.added == [one] and added.version.number == 1
        by_filter = client.traces.add_to_dataset("golden-candidates", user_id="dave",
                                                 expectations_from_outputs=True)  # fmt: skip
        assert by_filter.added == [two] and by_filter.version.record_count == 2
        rows = client.datasets.records("golden-candidates")
        assert [r.metadata["source_trace_id"] for r in rows] == [one, two]
        with pytest.raises(ValueError, match="not both"):
            client.traces.add_to_dataset("golden-candidates", [one], user_id="dave")

    monkeypatch.setenv("LLMLOOP_SERVER_URL", live_server.url)
    monkeypatch.setenv("LLMLOOP_API_KEY", tenant.secret("editor"))
    monkeypatch.setenv("LLMLOOP_PROJECT", tenant.project.name)
    with pytest.raises(SystemExit) as done:
        main(["traces", "add-to-dataset", "by-cli", one, two, "--create", "--json"])
    assert done.value.code == 0
    made = json.loads(capsys.readouterr().out)
    assert made["added"] == [one, two] and made["version"]["record_count"] == 2
    with pytest.raises(SystemExit) as done:
        main(["traces", "add-to-dataset", "by-cli", "--user", "carol"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "added 0 trace(s) to by-cli: unchanged, version v1" in out
    assert f"skipped {one}: already in the dataset" in out
    with pytest.raises(SystemExit) as done:
        main(["traces", "add-to-dataset", "by-cli", one, "--user", "carol"])
    assert done.value.code == 1 and "not both" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["traces", "add-to-dataset", "missing-ds", one])
    assert done.value.code == 1 and "create it first" in capsys.readouterr().err
