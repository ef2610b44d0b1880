"""The traces list's filters (kept in the URL), paging, and "Add to dataset", in Chromium."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from spans_factory import make_span, new_trace_id

from llmloop.data.datasets import Datasets
from llmloop.runtime import Runtime
from llmloop.store.traces import TraceRepository
from support import LiveServer, Tenant

NOW = datetime.now(UTC).replace(microsecond=0)
# name, minutes ago, user, session, tags, cost, duration ms, model
TRACES = [
    ("refund", 10, "alice", "s1", ["prod"], 0.002, 300.0, "gpt-4o-mini"),
    ("cancel", 20, "bob", "s2", ["prod", "beta"], 0.020, 2500.0, "gpt-4o"),
    ("greet", 30, "alice", "s3", ["beta"], 0.0005, 50.0, "gpt-4o-mini"),
    ("old", 60 * 30, "carol", "s4", [], 0.001, 100.0, "gpt-4o-mini"),  # 30 hours ago
]


def store(runtime: Runtime, tenant: Tenant) -> dict[str, str]:
    ids: dict[str, str] = {}
    spans = []
    for name, ago, user, session, tags, cost, ms, model in TRACES:
        ids[name] = trace_id = new_trace_id()
        spans.append(make_span(trace_id, name=name, start_time=NOW - timedelta(minutes=ago),
                               duration_ms=ms, user_id=user, session_id=session, tags=tags,
                               cost_usd=cost, model=model, inputs={"text": f"about {name}"},
                               outputs={"reply": f"{name} done"}))  # fmt: skip
    TraceRepository(runtime.db).insert(tenant.project.id, spans)
    return ids


def sign_in(page: Page, server: LiveServer, secret: str, path: str) -> None:
    page.context.add_cookies([{"name": "llmloop_key", "value": secret, "url": server.url}])
    page.goto(f"{server.url}{path}")


def names(page: Page) -> list[str]:
    return page.locator("#traces tbody tr td a").all_inner_texts()


@pytest.mark.browser
def test_filters_narrow_the_list_and_stay_in_the_url(page: Page, live_server: LiveServer) -> None:
    tenant = live_server.tenant("filters")
    store(live_server.runtime, tenant)
    sign_in(page, live_server, tenant.secret("viewer"), "/traces")
    expect(page.locator("#traces tbody tr")).to_have_count(3)  # last 24h by default
    assert names(page) == ["refund", "cancel", "greet"]
    expect(page.locator("#traces input[type=checkbox]")).to_have_count(0)  # viewers: no adding

    def apply(**fields: str) -> None:
        for field, value in fields.items():
            page.locator(f"#trace-filters [name={field}]").fill(value)
        page.get_by_role("button", name="Filter").click()
        page.wait_for_load_state()

    apply(user="alice")
    expect(page.locator("#traces tbody tr")).to_have_count(2)
    assert names(page) == ["refund", "greet"]
    assert parse_qs(urlparse(page.url).query)["user"] == ["alice"]
    apply(user="", tags="beta")
    expect(page.locator("#traces tbody tr")).to_have_count(2)
    assert names(page) == ["cancel", "greet"]
    apply(tags="prod, beta")
    expect(page.locator("#traces tbody tr")).to_have_count(1)
    apply(tags="", min_ms="1000")
    assert names(page) == ["cancel"]
    apply(min_ms="", max_cost="0.001")
    assert names(page) == ["greet"]
    expect(page.locator("#charts-note")).to_contain_text("cost")
    apply(max_cost="", session="s1")
    assert names(page) == ["refund"]
    apply(session="", model="gpt-4o")
    assert names(page) == ["cancel"]

    page.locator("#trace-filters select[name=range]").select_option("all")
    apply(model="gpt-4o-mini", text="about old")
    assert names(page) == ["old"]
    query = parse_qs(urlparse(page.url).query)
    assert query["range"] == ["all"] and query["text"] == ["about old"]

    since = (NOW - timedelta(hours=31)).strftime("%Y-%m-%dT%H:%M")
    until = (NOW - timedelta(hours=29)).strftime("%Y-%m-%dT%H:%M")
    page.goto(f"{live_server.url}/traces?range=custom&since={since}&until={until}")
    assert names(page) == ["old"]
    expect(page.locator("#trace-filters [name=since]")).to_have_value(since)  # refilled
    expect(page.locator("#trace-filters select[name=range]")).to_have_value("custom")


@pytest.mark.browser
def test_checked_traces_are_added_to_a_dataset(page: Page, live_server: LiveServer) -> None:
    tenant = live_server.tenant("curate")
    ids = store(live_server.runtime, tenant)
    sign_in(page, live_server, tenant.secret("editor"), "/traces")
    page.locator(f"tr[data-trace-id='{ids['refund']}'] input[name=trace_id]").check()
    page.locator(f"tr[data-trace-id='{ids['greet']}'] input[name=trace_id]").check()
    page.locator("#add-to-dataset input[name=dataset]").fill("from-prod")
    page.locator("#add-to-dataset input[name=expectations]").check()
    page.get_by_role("button", name="Add to dataset").click()
    expect(page.locator("#dataset-added")).to_contain_text("Added 2 trace(s) to from-prod")
    expect(page.locator("#dataset-added")).to_contain_text("new version v1 with 2 records")

    records = Datasets(live_server.runtime.db, live_server.runtime.tenancy.audit).records(
        tenant.project.id, "from-prod"
    )
    assert [r.id for r in records] == [ids["refund"], ids["greet"]]
    assert records[0].expectations == {"reply": "refund done"}
    assert records[0].metadata["source_trace_id"] == ids["refund"]

    page.locator("#select-all").check()
    page.get_by_role("button", name="Add to dataset").click()
    expect(page.locator("#dataset-added")).to_contain_text("Added 1 trace(s)")
    expect(page.locator("#dataset-added")).to_contain_text("new version v2 with 3 records")
    expect(page.locator("#dataset-skipped li")).to_have_count(2)
    link = page.get_by_role("link", name="from-prod")
    assert (link.get_attribute("href") or "").startswith("/datasets/from-prod?version=dsv_")

    page.locator("#select-all").uncheck()
    page.get_by_role("button", name="Add to dataset").click()
    expect(page.locator("#dataset-result .error")).to_contain_text("at least one trace")


def test_bad_filters_answer_400_naming_them(client: TestClient, tenant: Tenant) -> None:
    client.cookies.set("llmloop_key", tenant.secret("viewer"))
    for params, word in [
        ({"min_cost": "-1"}, "min_cost_usd"),
        ({"max_ms": "fast"}, "max_duration_ms"),
        ({"range": "custom", "since": "yesterday"}, "since"),
        ({"range": "custom", "since": "2026-01-02T00:00", "until": "2026-01-01T00:00"}, "until"),
        ({"offset": "-3"}, "offset"),
        ({"range": "forever"}, "range"),
    ]:
        response = client.get("/traces", params=params)
        assert response.status_code == 400, (params, response.text[:200])
        assert word in response.text, params
    refilled = client.get("/traces", params={"user": "zed", "min_cost": "-1"})
    assert 'value="zed"' in refilled.text


def test_pages_of_traces_link_to_each_other(
    client: TestClient, runtime: Runtime, tenant: Tenant
) -> None:
    trace_ids = [new_trace_id() for _ in range(105)]
    spans = [make_span(t, name=f"t{i}", start_time=NOW - timedelta(seconds=i), user_id="u")
             for i, t in enumerate(trace_ids)]  # fmt: skip
    TraceRepository(runtime.db).insert(tenant.project.id, spans)
    client.cookies.set("llmloop_key", tenant.secret("viewer"))
    first = client.get("/traces", params={"user": "u"})
    assert first.text.count("data-trace-id=") == 100
    older = '<a href="/traces?range=24h&amp;user=u&amp;offset=100" id="older">'
    assert older in first.text and 'id="newer"' not in first.text
    second = client.get("/traces", params={"user": "u", "offset": "100"})
    assert second.text.count("data-trace-id=") == 5
    newer = '<a href="/traces?range=24h&amp;user=u&amp;offset=0" id="newer">'
    assert newer in second.text and 'id="older"' not in second.text
