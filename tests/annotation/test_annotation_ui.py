"""The annotation round trip in headless Chromium: two annotators label with the keyboard,
agreement shows, a disputed item is adjudicated and the queue is promoted to golden."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from llmloop.annotation import LabelSchema, Queues
from llmloop.data.datasets import Datasets
from llmloop.records import Record, Role
from support import LiveServer, Tenant

pytestmark = pytest.mark.browser
TEXTS = ["refund my order", "where is my parcel", "the app crashes", "charged twice"]


def signed_in(page: Page, server: LiveServer, secret: str, path: str) -> None:
    page.context.add_cookies([{"name": "llmloop_key", "value": secret, "url": server.url}])
    page.goto(f"{server.url}{path}")


@pytest.fixture
def setup(live_server: LiveServer) -> tuple[Tenant, dict[str, str]]:
    runtime = live_server.runtime
    tenant = live_server.tenant("acme-annotate")
    project = tenant.project.id
    records = [Record(id=f"t{i}", inputs={"text": t}) for i, t in enumerate(TEXTS)]
    Datasets(runtime.db, runtime.tenancy.audit).commit(
        project, "tickets", records, actor="key:admin", create=True
    )
    schema = LabelSchema(kind="classes", classes=["refund", "shipping", "bug"])
    Queues(runtime.db, runtime.tenancy.audit).create_from_dataset(
        project, "review", dataset="tickets", schema=schema, required=2, actor="key:admin"
    )
    secrets = {
        who: runtime.tenancy.create_key(project, who, Role.editor, actor="test")[1]
        for who in ("alice", "bob")
    }
    return tenant, secrets


def label(page: Page, keys: list[str]) -> None:
    """Answer items one after another with the keyboard ('s' skips)."""
    for key in keys:
        current = page.locator("#annotate-item").get_attribute("data-item")
        if key == "s":
            page.keyboard.press("s")
        else:
            page.keyboard.press(key)
            page.keyboard.press("Enter")
        expect(page.locator("#annotate-item")).not_to_have_attribute("data-item", current or "")


def test_two_annotators_agreement_adjudication_golden(
    page: Page, browser: Browser, live_server: LiveServer, setup: tuple[Tenant, dict[str, str]]
) -> None:
    tenant, secrets = setup
    signed_in(page, live_server, secrets["alice"], "/queues")
    expect(page.locator("#queues tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Annotate").click()
    expect(page.locator("#item-content")).to_contain_text("refund my order")
    page.evaluate("window.stillHere = true")  # no reload may clear this
    label(page, ["1", "2", "s", "3"])  # t0 refund, t1 shipping, t2 skipped, t3 bug
    expect(page.locator("#queue-done")).to_contain_text("Nothing left for alice")
    assert page.evaluate("window.stillHere") is True

    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        bob = other.new_page()
        signed_in(bob, live_server, secrets["bob"], "/queues/review/annotate")
        expect(bob.locator("#item-content")).to_contain_text("refund my order")
        label(bob, ["1", "3", "3", "3"])  # agrees on t0 and t3, disagrees on t1
        expect(bob.locator("#queue-done")).to_be_visible()
    finally:
        other.close()

    page.goto(f"{live_server.url}/queues/review")
    expect(page.locator("#percent-agreement")).to_have_text("0.667")
    expect(page.locator("#pairs tbody tr")).to_have_count(1)
    expect(page.locator("[data-stat=disputed] .stat-value")).to_have_text("1")
    expect(page.locator("#annotators tr[data-annotator=alice] td").nth(1)).to_have_text("3")

    page.locator("#adjudicate-link").click()
    row = page.locator("#disputed tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("alice: shipping")
    expect(row).to_contain_text("bob: bug")
    row.get_by_role("button", name="shipping").click()
    expect(page.locator("#disputed .decided")).to_contain_text("Final: shipping (by alice)")

    page.goto(f"{live_server.url}/queues/review")
    page.locator("#promote-button").click()
    expect(page.locator("#promoted")).to_contain_text("tickets v2")
    expect(page.locator("#promoted")).to_contain_text("3 validated here")

    data = Datasets(live_server.runtime.db, live_server.runtime.tenancy.audit)
    golden = {r.id: r for r in data.records(tenant.project.id, "tickets", "golden")}
    assert set(golden) == {"t0", "t1", "t3"}
    assert golden["t1"].metadata["validated_by"] == "alice"
    assert golden["t1"].expectations == {"label": "shipping"}
    assert golden["t0"].metadata["validated_by"] == "alice, bob"
    assert all(r.metadata["validated_at"] for r in golden.values())


def test_wrong_answer_shows_the_error_on_the_same_item(
    page: Page, live_server: LiveServer, setup: tuple[Tenant, dict[str, str]]
) -> None:
    _, secrets = setup
    signed_in(page, live_server, secrets["alice"], "/queues/review/annotate")
    item = page.locator("#annotate-item").get_attribute("data-item")
    page.keyboard.press("Enter")  # nothing chosen
    expect(page.get_by_role("alert")).to_contain_text("choose one of")
    expect(page.locator("#annotate-item")).to_have_attribute("data-item", item or "")


def test_sign_in_name_and_viewer(
    page: Page, live_server: LiveServer, setup: tuple[Tenant, dict[str, str]]
) -> None:
    tenant, secrets = setup
    signed_in(page, live_server, secrets["alice"], "/queues/review/annotate")
    page.locator("#annotator-name").fill("alice.smith")
    page.get_by_role("button", name="Switch").click()
    expect(page.locator("#annotator-name")).to_have_value("alice.smith")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#annotate-progress")).to_contain_text("7 answer(s) still needed")
    page.goto(f"{live_server.url}/queues/review")
    expect(page.locator("#items tbody tr").first).to_contain_text("alice.smith: refund")

    page.context.clear_cookies()
    signed_in(page, live_server, tenant.secret("viewer"), "/queues/review/annotate")
    expect(page.get_by_role("alert")).to_contain_text("needs an editor key")


def test_queue_pages_need_a_key(client: TestClient) -> None:
    for path in ("/queues", "/queues/x", "/queues/x/annotate", "/queues/x/adjudicate"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
