"""The trace pages in headless Chromium against a live server on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import ConsoleMessage, Page, Response, expect
from spans_factory import make_span, new_trace_id

from llmloop.records import Score
from llmloop.store.traces import TraceRepository
from support import LiveServer, Tenant, assert_error

pytestmark = pytest.mark.browser


def signed_in(page: Page, server: LiveServer, secret: str, path: str) -> list[str]:
    """Open ``path`` with the key cookie; return the list the page's console errors go to."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # failed loads are checked by URL below (the browser's own /favicon.ico 404 is fine)
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.context.add_cookies([{"name": "llmloop_key", "value": secret, "url": server.url}])
    page.goto(f"{server.url}{path}")
    return errors


@pytest.fixture
def traced(live_server: LiveServer) -> tuple[Tenant, str]:
    """Three traces in the last hour; the first is an agent with an LLM call and a tool."""
    tenant = live_server.tenant("acme-traces")
    repo = TraceRepository(live_server.runtime.db)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    agent_id = new_trace_id()
    root = make_span(agent_id, name="support-agent", kind="agent", start_time=start,
                     duration_ms=900, inputs={"question": "where is my refund?"},
                     outputs={"answer": "on its way"}, tags=["prod"])  # fmt: skip
    chat = make_span(agent_id, name="chat gpt-4o-mini", kind="llm", parent_span_id=root.span_id,
                     start_time=start + timedelta(milliseconds=100), duration_ms=500,
                     model="gpt-4o-mini", input_tokens=40, output_tokens=12,
                     cost_usd=0.002)  # fmt: skip
    tool = make_span(agent_id, name="lookup-order", kind="tool", parent_span_id=chat.span_id,
                     start_time=start + timedelta(milliseconds=650), duration_ms=200)  # fmt: skip
    failed = make_span(new_trace_id(), name="classify", kind="llm", status="error",
                       start_time=start + timedelta(minutes=5), model="gpt-4o-mini")  # fmt: skip
    other = make_span(new_trace_id(), name="summarize", start_time=start + timedelta(minutes=9))
    repo.insert(tenant.project.id, [root, chat, tool, failed, other])
    score = Score(target_kind="trace", target_id=agent_id, name="helpful", value=True,
                  source="human:ana", rationale="resolved")  # fmt: skip
    repo.add_score(tenant.project.id, agent_id, score)
    return tenant, agent_id


def test_trace_list_charts_and_span_tree(
    page: Page, live_server: LiveServer, traced: tuple[Tenant, str]
) -> None:
    tenant, agent_id = traced
    errors = signed_in(page, live_server, tenant.secret("viewer"), "/traces")
    expect(page.locator("main h1")).to_have_text("Traces")
    rows = page.locator("#traces tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first.locator("td").nth(1)).to_have_text("summarize")  # newest first
    page.wait_for_function("document.body.dataset.chartsReady === 'true'")
    assert page.locator("canvas[data-series]").count() == 4
    totals = page.evaluate(
        "Object.values(Chart.instances).filter(c => c.canvas.id === 'chart-count')"
        ".map(c => c.data.datasets[0].data.reduce((a, b) => a + b, 0))"
    )
    assert totals == [3]
    assert errors == []

    page.locator("select[name=status]").select_option("error")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").nth(1)).to_have_text("classify")

    page.locator("select[name=status]").select_option("")
    page.locator("input[name=text]").fill("refund")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="support-agent").click()

    page.wait_for_url(f"{live_server.url}/traces/{agent_id}")
    spans = page.locator("#spans tbody tr")
    expect(spans).to_have_count(3)
    assert [spans.nth(i).get_attribute("data-depth") for i in range(3)] == ["0", "1", "2"]
    expect(spans.nth(2).locator("td.name")).to_contain_text("lookup-order")
    bar = spans.nth(2).locator(".timeline .bar")
    style = bar.get_attribute("style") or ""
    assert "left: 72.22%" in style and "width: 22.22%" in style  # 650 ms and 200 ms of 900
    expect(page.locator("#io")).to_contain_text("where is my refund?")
    cells = page.locator("#scores tbody tr td")
    expect(cells).to_have_text(["helpful", "True", f"trace {agent_id}", "human:ana", "resolved"])
    assert errors == []


def test_bad_filters_and_missing_traces(client: TestClient, tenant: Tenant) -> None:
    cookies = {"llmloop_key": tenant.secret("viewer")}
    client.cookies.update(cookies)
    bad = client.get("/traces", params={"status": "broken"})
    assert bad.status_code == 400 and "status" in bad.text
    assert client.get("/traces", params={"range": "5y"}).status_code == 400
    missing = client.get(f"/traces/{'0' * 32}")
    assert missing.status_code == 404 and "not found" in missing.text
    assert client.get("/traces").status_code == 200


def test_trace_pages_need_a_key(client: TestClient, tenant: Tenant) -> None:
    for path in ("/traces", f"/traces/{'0' * 32}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    url = f"/api/v1/projects/{tenant.project.name}/traces/stats"
    assert_error(client.get(url), 401, "unauthenticated")
