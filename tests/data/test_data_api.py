"""The datasets REST API: roles, uploads, pages, aliases, diffs, exports and bad input."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from llmloop.runtime import Runtime
from support import Tenant, assert_error

CSV = b"id,text,label,lang\n1,hello,greet,en\n2,hola,greet,es\n\n3,buy now,spam,en\n3,dup,spam,en\n"
MAPPING = {"id": "id", "inputs": ["text"], "expectations": ["label"], "metadata": ["lang"]}


def base(tenant: Tenant) -> str:
    return f"/api/v1/projects/{tenant.project.name}/datasets"


def upload(client: TestClient, tenant: Tenant, name: str, data: bytes, filename: str, **form: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"{base(tenant)}/{name}/upload",
        headers=tenant.headers("editor"),
        files={"file": (filename, data)},
        data=form,
    )


def test_upload_reports_skipped_rows_and_creates_latest(client: TestClient, tenant: Tenant) -> None:
    response = upload(client, tenant, "tickets", CSV, "t.csv", mapping=json.dumps(MAPPING))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] and body["version"]["number"] == 1
    assert body["report"]["imported"] == 3
    assert [(s["row"], s["reason"]) for s in body["report"]["skipped"]] == [
        (3, "empty row"),
        (5, "duplicate id '3' (first on row 4)"),
    ]
    listing = client.get(base(tenant), headers=tenant.headers()).json()
    assert [(d["dataset"]["name"], d["latest"]["record_count"]) for d in listing] == [
        ("tickets", 3)
    ]
    detail = client.get(f"{base(tenant)}/tickets", headers=tenant.headers()).json()
    assert detail["latest"]["field_schema"]["slices"]["lang"] == {"en": 2, "es": 1}


def test_upload_of_bad_files_is_422_and_writes_nothing(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    cases = [
        (CSV, "t.csv", {"mapping": json.dumps({"inputs": ["body"]})}, "no column 'body'"),
        ("id,text\n1,héllo\n".encode("latin-1"), "t.csv", {}, "not valid utf-8"),
        (b"id,text\n,\n", "t.csv", {}, "no row of the csv input"),
        (
            CSV,
            "t.csv",
            {"on_error": "fail", "mapping": json.dumps(MAPPING)},
            "nothing was imported",
        ),
        (b"PAR1garbage", "t.parquet", {}, "not a readable Parquet file"),
        (CSV, "t.xlsx", {}, "cannot tell the format of 't.xlsx'"),
        (CSV, "t.csv", {"mapping": "{not json"}, "mapping must be a JSON object"),
    ]
    for data, filename, form, message in cases:
        response = upload(client, tenant, "bad", data, filename, **form)
        error = assert_error(response, 422, "invalid_request")
        assert message in error["message"], (filename, error["message"])
    assert client.get(base(tenant), headers=tenant.headers()).json() == []
    events = runtime.tenancy.audit.list(tenant.project.id, object_type="dataset")
    assert events == []


def test_viewer_reads_but_cannot_write(client: TestClient, tenant: Tenant) -> None:
    body = {"name": "d", "records": [{"id": "a", "inputs": {"q": 1}}]}
    denied = client.post(base(tenant), headers=tenant.headers("viewer"), json=body)
    assert_error(denied, 403, "forbidden")
    created = client.post(base(tenant), headers=tenant.headers("editor"), json=body)
    assert created.status_code == 201 and created.json()["latest"]["record_count"] == 1
    page = client.get(f"{base(tenant)}/d/records", headers=tenant.headers("viewer"))
    assert page.status_code == 200 and page.json()["records"][0]["inputs"] == {"q": 1}
    move = client.put(
        f"{base(tenant)}/d/aliases/golden", headers=tenant.headers("viewer"), json={"version": "v1"}
    )
    assert_error(move, 403, "forbidden")


def test_versions_pages_aliases_and_diff(client: TestClient, tenant: Tenant) -> None:
    headers = tenant.headers("editor")
    records = [{"id": f"r{i}", "inputs": {"q": i}} for i in range(25)]
    first = client.post(
        f"{base(tenant)}/d/versions",
        headers=headers,
        json={"records": records, "create": True, "message": "first"},
    )
    assert first.status_code == 201 and first.json()["version"]["message"] == "first"
    changed = (
        records[:20]
        + [{"id": "r3", "inputs": {"q": "three"}}][:0]
        + [{"id": "new", "inputs": {"q": 1}}]
    )
    client.post(f"{base(tenant)}/d/versions", headers=headers, json={"records": changed})
    page = client.get(
        f"{base(tenant)}/d/records",
        headers=headers,
        params={"version": "v1", "offset": 20, "limit": 10},
    ).json()
    assert page["total"] == 25 and [r["id"] for r in page["records"]] == [
        f"r{i}" for i in range(20, 25)
    ]
    versions = client.get(f"{base(tenant)}/d/versions", headers=headers).json()
    assert [v["number"] for v in versions] == [2, 1]
    moved = client.put(
        f"{base(tenant)}/d/aliases/golden",
        headers=headers,
        json={"version": "v1", "reason": "checked by hand"},
    )
    assert moved.status_code == 200 and moved.json()["version_id"] == versions[1]["id"]
    aliases = client.get(f"{base(tenant)}/d/aliases", headers=headers).json()
    assert {a["name"]: a["version_id"] for a in aliases} == {
        "golden": versions[1]["id"],
        "latest": versions[0]["id"],
    }
    one = client.get(f"{base(tenant)}/d/versions/golden", headers=headers).json()
    assert one["id"] == versions[1]["id"]
    diff = client.get(f"{base(tenant)}/d/diff", headers=headers, params={"from": "golden"}).json()
    assert diff["added"] == ["new"] and diff["removed"] == [f"r{i}" for i in range(20, 25)]
    assert diff["unchanged"] == 20


def test_bad_requests_are_4xx_naming_the_problem(client: TestClient, tenant: Tenant) -> None:
    headers = tenant.headers("editor")
    client.post(
        base(tenant),
        headers=headers,
        json={"name": "d", "records": [{"id": "a", "inputs": {"q": 1}}]},
    )
    checks = [
        (client.get(f"{base(tenant)}/nope", headers=headers), 404, "dataset 'nope' not found"),
        (client.get(f"{base(tenant)}/d/versions/v9", headers=headers), 404, "no version 'v9'"),
        (client.post(base(tenant), headers=headers, json={"name": "d"}), 409, "already exists"),
        (client.post(base(tenant), headers=headers, json={"name": "a b"}), 422, "'a b' is invalid"),
        (
            client.post(
                f"{base(tenant)}/d/versions",
                headers=headers,
                json={"records": [{"id": "x", "inputs": 3}]},
            ),
            422,
            "cannot be imported (row 1: inputs:",
        ),
        (
            client.post(
                f"{base(tenant)}/d/versions",
                headers=headers,
                json={"records": [{"id": "x", "inputs": {}}, {"id": "x", "inputs": {}}]},
            ),
            422,
            "duplicate id 'x'",
        ),
        (
            client.post(
                f"{base(tenant)}/d/split",
                headers=headers,
                json={"fractions": {"train": 0.9, "test": 0.3}},
            ),
            422,
            "sum to 1",
        ),
        (
            client.put(f"{base(tenant)}/d/aliases/latest", headers=headers, json={"version": "v1"}),
            422,
            "'latest' moves by itself",
        ),
        (client.get(f"{base(tenant)}/d/diff", headers=headers), 422, "from"),
        (
            client.get(f"{base(tenant)}/d/duplicates", headers=headers, params={"threshold": 2}),
            422,
            "threshold",
        ),
    ]
    for response, status, message in checks:
        code = {404: "not_found", 409: "conflict", 422: "invalid_request"}[status]
        error = assert_error(response, status, code)
        assert message in error["message"], error["message"]


def test_split_dedup_and_export(client: TestClient, tenant: Tenant) -> None:
    headers = tenant.headers("editor")
    records = [
        {
            "id": f"r{i}",
            "inputs": {"text": f"ticket number {i} about billing"},
            "metadata": {"lang": "en" if i % 2 else "de"},
        }
        for i in range(20)
    ]
    copy = {"id": "copy", "inputs": {"text": "Ticket number 3, about billing!"}}
    records.append({**copy, "metadata": {"lang": "en"}})
    client.post(base(tenant), headers=headers, json={"name": "d", "records": records})
    split = client.post(
        f"{base(tenant)}/d/split",
        headers=headers,
        json={"stratify": "lang", "seed": 2, "save": True},
    ).json()
    assert sorted(split["versions"]) == ["dev", "test", "train"]
    assert sum(len(ids) for ids in split["split"]["parts"].values()) == 21
    dups = client.get(f"{base(tenant)}/d/duplicates", headers=headers).json()
    assert [g["record_ids"] for g in dups["groups"]] == [["r3", "copy"]]
    dedup = client.post(f"{base(tenant)}/d/dedup", headers=headers, json={}).json()
    assert dedup["removed"] == 1 and dedup["commit"]["version"]["record_count"] == 20
    jsonl = client.get(f"{base(tenant)}/d/export", headers=headers, params={"version": "v1"})
    assert jsonl.status_code == 200 and jsonl.headers["content-type"] == "application/x-ndjson"
    assert "d-v1.jsonl" in jsonl.headers["content-disposition"]
    assert [json.loads(line)["id"] for line in jsonl.text.splitlines()][-1] == "copy"
    parquet = client.get(f"{base(tenant)}/d/export", headers=headers, params={"format": "parquet"})
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == 20 and "metadata.lang" in table.column_names


def test_a_value_the_database_refuses_is_422_and_writes_nothing(
    client: TestClient, tenant: Tenant, runtime: Runtime, dialect: str
) -> None:
    records = [{"id": "ok", "inputs": {"q": "fine"}}, {"id": "nul", "inputs": {"q": "a\u0000b"}}]
    response = client.post(base(tenant), headers=tenant.headers("editor"),
                           json={"name": "d", "records": records})  # fmt: skip
    if dialect == "postgresql":  # JSONB cannot hold U+0000; SQLite can
        error = assert_error(response, 422, "invalid_request")
        assert "cannot be stored" in error["message"]
        assert client.get(base(tenant), headers=tenant.headers()).json() == []
        assert runtime.tenancy.audit.list(tenant.project.id, object_type="dataset") == []
    else:
        assert response.status_code == 201
        page = client.get(f"{base(tenant)}/d/records", headers=tenant.headers()).json()
        assert page["records"][1]["inputs"] == {"q": "a\u0000b"}
