"""The dataset pages in headless Chromium against a live server on loopback."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from llmloop.data.datasets import Datasets
from llmloop.records import Record
from support import LiveServer, Tenant

pytestmark = pytest.mark.browser


def signed_in(page: Page, server: LiveServer, secret: str, path: str) -> None:
    page.context.add_cookies([{"name": "llmloop_key", "value": secret, "url": server.url}])
    page.goto(f"{server.url}{path}")


@pytest.fixture
def acme(live_server: LiveServer) -> Tenant:
    tenant = live_server.tenant("acme-data")
    data = Datasets(live_server.runtime.db, live_server.runtime.tenancy.audit)
    langs = ["en"] * 6 + ["de"] * 3 + ["fr"]
    first = [
        Record(id=f"t{i}", inputs={"text": f"ticket {i}"}, metadata={"lang": lang},
               expectations={"intent": "refund" if i % 2 else "shipping"})
        for i, lang in enumerate(langs)
    ]  # fmt: skip
    data.commit(tenant.project.id, "tickets", first, actor="key:admin", create=True)
    second = [*first[2:], Record(id="new", inputs={"text": "hola"}, metadata={"lang": "es"})]
    data.commit(tenant.project.id, "tickets", second, actor="key:admin", message="add spanish")
    data.move_alias(tenant.project.id, "tickets", "golden", "v1", actor="key:admin")
    return tenant


def test_dataset_list_links_to_a_page_with_versions_diff_and_charts(
    page: Page, live_server: LiveServer, acme: Tenant
) -> None:
    signed_in(page, live_server, acme.secret("viewer"), "/datasets")
    expect(page.locator("main h1")).to_have_text("Datasets")
    row = page.locator("#datasets tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("v2")
    expect(row.locator("td").nth(2)).to_have_text("9")
    page.get_by_role("link", name="tickets").click()

    page.wait_for_url(f"{live_server.url}/datasets/tickets")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    expect(page.locator("#versions tr.selected td").first).to_have_text("v2")
    expect(page.locator("#versions tbody tr").nth(1).locator("code.alias")).to_have_text("golden")
    expect(page.locator("#diff-added")).to_have_text("1 added")
    expect(page.locator("#diff-removed")).to_have_text("2 removed")
    lang = page.locator("figure.slice[data-slice='lang']")
    expect(lang.locator(".slice-table tr").first).to_have_text("en4")
    page.wait_for_function("document.body.dataset.chartsReady === 'true'")
    charts = page.evaluate("Object.keys(Chart.instances).length")
    assert charts == 2  # lang and expectations.intent
    labels = page.evaluate(
        "Object.values(Chart.instances).map(c => c.data.labels.join(',')).sort()"
    )
    assert labels == ["en,de,es,fr", "refund,shipping"]  # by count, then by value
    expect(page.locator("#records tbody tr")).to_have_count(9)

    page.get_by_role("link", name="v1", exact=True).click()
    expect(page.locator("#versions tr.selected td").first).to_have_text("v1")
    expect(page.locator("#changes")).to_contain_text("First version.")
    expect(page.locator("#records tbody tr")).to_have_count(10)


def test_missing_dataset_is_404_with_the_list(
    page: Page, live_server: LiveServer, acme: Tenant
) -> None:
    signed_in(page, live_server, acme.secret("viewer"), "/datasets/nope")
    expect(page.get_by_role("alert")).to_have_text("dataset 'nope' not found in this project")
    expect(page.locator("#datasets tbody tr")).to_have_count(1)


def test_dataset_pages_need_a_key(client: TestClient) -> None:
    for path in ("/datasets", "/datasets/x"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
