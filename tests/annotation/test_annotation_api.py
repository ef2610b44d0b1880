"""The annotation API end to end: queue, pull, answer, agreement, adjudicate, promote."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from llmloop.data.datasets import Datasets
from llmloop.runtime import Runtime
from support import Tenant, assert_error

SCHEMA = {"kind": "classes", "classes": ["refund", "shipping", "bug"]}


def _url(t: Tenant, path: str = "") -> str:
    return f"/api/v1/projects/{t.project.name}/queues{path}"


def _create(client: TestClient, t: Tenant, **extra: Any) -> dict[str, Any]:
    body = {"name": "review", "dataset": "tickets", "schema": SCHEMA, "required": 2, **extra}
    response = client.post(_url(t), json=body, headers=t.headers("editor"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _next(client: TestClient, t: Tenant, who: str) -> dict[str, Any] | None:
    r = client.post(_url(t, "/review/next"), json={"annotator": who}, headers=t.headers("editor"))
    assert r.status_code == 200, r.text
    return r.json()["item"]


def _answer(client: TestClient, t: Tenant, item: str, who: str, value: Any) -> Any:
    return client.post(
        _url(t, f"/review/items/{item}/answers"),
        json={"value": value, "annotator": who},
        headers=t.headers("editor"),
    )


def test_round_trip_to_golden(client: TestClient, acme_tickets: Tenant, runtime: Runtime) -> None:
    t = acme_tickets
    created = _create(client, t)
    assert created["progress"]["items"] == 6 and created["progress"]["pending"] == 6
    assert created["progress"]["needed"] == 12
    assert created["queue"]["label_schema"]["field"] == "label"

    first = _next(client, t, "alice")
    assert first is not None and first["ref"]["record_id"] == "t0"
    assert first["content"]["inputs"]["text"].startswith("ticket number 0")
    assert _next(client, t, "alice")["id"] == first["id"]  # still hers until answered
    assert _next(client, t, "bob")["id"] == first["id"]  # the second place of t0
    third = _next(client, t, "carol")
    assert third["ref"]["record_id"] == "t1"  # t0 has its two annotators

    assert _answer(client, t, first["id"], "alice", "refund").json()["item"]["status"] == "pending"
    settled = _answer(client, t, first["id"], "bob", "refund").json()["item"]
    assert settled["status"] == "resolved" and settled["final"] == "refund"
    assert settled["final_by"] == "alice, bob"

    second = _next(client, t, "alice")
    assert second["ref"]["record_id"] == "t1"
    _answer(client, t, second["id"], "alice", "shipping")
    disputed = _answer(client, t, second["id"], "carol", "bug").json()["item"]
    assert disputed["status"] == "disputed" and disputed["final"] is None

    report = client.get(_url(t, "/review/agreement"), headers=t.headers("viewer")).json()
    assert report["items_compared"] == 2 and report["percent_agreement"] == 0.5
    assert report["level"] == "nominal"
    assert {(p["a"], p["b"]) for p in report["pairs"]} == {("alice", "bob"), ("alice", "carol")}
    stats = {s["annotator"]: s for s in report["annotators"]}
    assert stats["alice"]["answered"] == 2 and stats["alice"]["agreement_with_others"] == 0.5

    listed = client.get(_url(t, "/review/items?status=disputed"), headers=t.headers("viewer"))
    assert [v["item"]["id"] for v in listed.json()["items"]] == [second["id"]]
    assert len(listed.json()["items"][0]["annotations"]) == 2

    decided = client.post(
        _url(t, f"/review/items/{second['id']}/adjudicate"),
        json={"value": "bug", "reason": "the app crashed"},
        headers=t.headers("editor"),
    )
    assert decided.status_code == 200, decided.text
    item = decided.json()["item"]
    assert item["status"] == "adjudicated" and item["final_by"] == "editor"
    late = _answer(client, t, second["id"], "dave", "bug")
    assert_error(late, 409, "conflict")

    promoted = client.post(_url(t, "/review/promote"), json={}, headers=t.headers("editor"))
    assert promoted.status_code == 200, promoted.text
    outcome = promoted.json()
    assert outcome["promoted"] == 2 and outcome["commit"]["created"] is True
    data = Datasets(runtime.db, runtime.tenancy.audit)
    golden = {r.id: r for r in data.records(t.project.id, "tickets", "golden")}
    assert set(golden) == {"t0", "t1"}
    assert golden["t1"].expectations == {"label": "bug"}  # was 'shipping' in the dataset
    assert golden["t1"].metadata["validated_by"] == "editor"
    assert golden["t1"].metadata["validation"] == "adjudicated"
    assert golden["t0"].metadata["validated_by"] == "alice, bob"
    assert golden["t0"].metadata["validated_at"].startswith("20")
    assert data.version(t.project.id, "tickets", "latest").record_count == 6  # latest stays
    actions = [e.action for e in runtime.tenancy.history(t.project.id, limit=50)]
    assert {"annotation.promote", "annotation.adjudicate", "dataset.alias.move"} <= set(actions)

    again = client.post(_url(t, "/review/promote"), json={}, headers=t.headers("editor")).json()
    assert again["commit"]["created"] is False  # same content, same version
    summary = client.get(_url(t, "/review"), headers=t.headers("viewer")).json()
    assert summary["progress"]["promoted"] == 2 and summary["progress"]["resolved"] == 1
    assert summary["annotators"] == ["alice", "bob", "carol"]


def test_skip_and_assign(client: TestClient, acme_tickets: Tenant) -> None:
    t = acme_tickets
    _create(client, t, required=1, record_ids=["t2", "t3"])
    item = _next(client, t, "alice")
    assert item["ref"]["record_id"] == "t2"
    skipped = client.post(
        _url(t, f"/review/items/{item['id']}/skip"), json={"annotator": "alice"},
        headers=t.headers("editor"),
    )  # fmt: skip
    assert skipped.status_code == 200
    assert _next(client, t, "alice")["ref"]["record_id"] == "t3"  # never t2 again
    assert _next(client, t, "bob")["ref"]["record_id"] == "t2"  # the skip freed t2

    assigned = client.post(
        _url(t, "/review/assign"), json={"annotators": ["erin"]}, headers=t.headers("editor")
    )
    assert assigned.json() == {"assigned": 2, "items": 2, "annotators": ["erin"]}
    assert _next(client, t, "erin")["ref"]["record_id"] == "t2"
    # the key's name is the default annotator
    r = client.post(_url(t, "/review/next"), json={}, headers=t.headers("admin"))
    assert r.json()["annotator"] == "admin"


def test_rating_and_multi_schemas(client: TestClient, acme_tickets: Tenant) -> None:
    t = acme_tickets
    body = {"name": "rate", "dataset": "tickets", "schema": {"kind": "rating", "scale": 3}}
    assert client.post(_url(t), json=body, headers=t.headers("editor")).status_code == 201
    item = client.post(_url(t, "/rate/next"), json={}, headers=t.headers("editor")).json()["item"]
    bad = client.post(
        _url(t, f"/rate/items/{item['id']}/answers"), json={"value": 4},
        headers=t.headers("editor"),
    )  # fmt: skip
    assert "outside 1..3" in assert_error(bad, 422, "invalid_request")["message"]
    good = client.post(
        _url(t, f"/rate/items/{item['id']}/answers"), json={"value": 3},
        headers=t.headers("editor"),
    )  # fmt: skip
    assert good.json()["item"]["final"] == 3
    multi = {"kind": "classes", "classes": ["a", "b", "c"], "multi": True}
    body = {"name": "tags", "dataset": "tickets", "schema": multi}
    assert client.post(_url(t), json=body, headers=t.headers("editor")).status_code == 201
    item = client.post(_url(t, "/tags/next"), json={}, headers=t.headers("editor")).json()["item"]
    answer = client.post(
        _url(t, f"/tags/items/{item['id']}/answers"), json={"value": ["c", "a", "c"]},
        headers=t.headers("editor"),
    )  # fmt: skip
    assert answer.json()["item"]["final"] == ["a", "c"]  # schema order, once each


def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    client: TestClient, acme_tickets: Tenant
) -> None:
    t = acme_tickets
    h = t.headers("editor")
    one_class = {"name": "q", "dataset": "tickets", "schema": {"kind": "classes", "classes": ["a"]}}
    assert_error(client.post(_url(t), json=one_class, headers=h), 422, "invalid_request")
    both = {"name": "q", "dataset": "tickets", "trace_ids": ["x"], "schema": SCHEMA}
    assert_error(client.post(_url(t), json=both, headers=h), 422, "invalid_request")
    missing = {"name": "q", "dataset": "tickets", "schema": SCHEMA, "record_ids": ["t1", "zz"]}
    error = assert_error(client.post(_url(t), json=missing, headers=h), 422, "invalid_request")
    assert "'zz'" in error["message"]
    bad_name = {"name": "no spaces", "dataset": "tickets", "schema": SCHEMA}
    assert_error(client.post(_url(t), json=bad_name, headers=h), 422, "invalid_request")
    no_dataset = {"name": "q", "dataset": "nope", "schema": SCHEMA}
    assert_error(client.post(_url(t), json=no_dataset, headers=h), 404, "not_found")
    no_trace = {"name": "q", "trace_ids": ["0" * 32], "schema": SCHEMA}
    assert_error(client.post(_url(t), json=no_trace, headers=h), 404, "not_found")
    assert client.get(_url(t), headers=h).json() == []  # nothing half-written

    _create(client, t)
    assert_error(client.post(_url(t), json={"name": "review", "dataset": "tickets",
                 "schema": SCHEMA}, headers=h), 409, "conflict")  # fmt: skip
    item = _next(client, t, "alice")
    error = assert_error(_answer(client, t, item["id"], "alice", "nope"), 422, "invalid_request")
    assert "unknown class 'nope'" in error["message"]
    assert_error(_answer(client, t, "itm_missing", "alice", "bug"), 404, "not_found")
    assert_error(_answer(client, t, item["id"], "  ", "bug"), 422, "invalid_request")
    assert_error(client.get(_url(t, "/nope"), headers=h), 404, "not_found")
    assert_error(
        client.post(_url(t, "/review/promote"), json={}, headers=h), 422, "invalid_request"
    )
    assert_error(
        client.post(_url(t, f"/review/items/{item['id']}/adjudicate"), json={"value": "bug"},
                    headers=h), 409, "conflict",
    )  # fmt: skip
    viewer = client.post(_url(t, "/review/next"), json={}, headers=t.headers("viewer"))
    assert_error(viewer, 403, "forbidden")
    assert_error(client.get(_url(t, "/review/items?status=odd"), headers=h), 422, "invalid_request")
