"""The web UI in headless Chromium against a live server on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from llmloop.records import Role
from support import LiveServer, Tenant

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/llmloop-home.png")


def login(page: Page, server: LiveServer, secret: str) -> None:
    """Sign in through the login form, as a user does."""
    page.goto(f"{server.url}/login")
    page.fill("#key", secret)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")


def signed_in(page: Page, server: LiveServer, secret: str, path: str = "/") -> None:
    """Open ``path`` with the key cookie already set (the login form has its own tests)."""
    page.context.add_cookies([{"name": "llmloop_key", "value": secret, "url": server.url}])
    page.goto(f"{server.url}{path}")
    assert page.url == f"{server.url}{path}"


@pytest.fixture
def acme(live_server: LiveServer) -> Tenant:
    return live_server.tenant("acme-support", "Support-ticket assistant")


def test_unauthenticated_home_redirects_to_login(page: Page, live_server: LiveServer) -> None:
    response = page.goto(f"{live_server.url}/")
    assert response is not None
    assert page.url == f"{live_server.url}/login?next=/"
    assert response.status == 200
    expect(page).to_have_title("Sign in · llmloop")
    expect(page.locator("#key")).to_be_visible()
    expect(page.locator("#key")).to_have_attribute("type", "password")


def test_bad_key_shows_an_error(page: Page, live_server: LiveServer, acme: Tenant) -> None:
    page.goto(f"{live_server.url}/login")
    page.fill("#key", "llk_definitely-wrong")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_have_text("That key is invalid or revoked.")
    assert page.context.cookies() == []


def test_login_shows_the_overview(page: Page, live_server: LiveServer, acme: Tenant) -> None:
    login(page, live_server, acme.secret("admin"))

    expect(page.locator("main h1")).to_have_text("acme-support")
    expect(page.locator(".project-name")).to_have_text("acme-support")
    expect(page.locator(".who")).to_have_text("key:admin · admin")
    providers = len(live_server.runtime.providers.names())
    for stat, value in (("api_keys", "4"), ("audit_events", "5"), ("providers", str(providers))):
        expect(page.locator(f'[data-stat="{stat}"] .stat-value')).to_have_text(value)
    activity = page.locator("main table tbody tr")
    expect(activity).to_have_count(5)
    expect(activity.first).to_contain_text("key.create")
    expect(page.locator(".nav-link.active")).to_have_text("Overview")
    # the stylesheet and htmx load from /static
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("getComputedStyle(document.querySelector('aside')).display") != "inline"
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_nav_links_work(page: Page, live_server: LiveServer, acme: Tenant) -> None:
    signed_in(page, live_server, acme.secret("admin"))
    for label, path, heading in (
        ("Models", "/models", "Models"),
        ("API keys", "/keys", "API keys"),
        ("Audit log", "/audit", "Audit log"),
        ("Overview", "/", "acme-support"),
    ):
        page.get_by_role("link", name=label, exact=True).click()
        page.wait_for_url(f"{live_server.url}{path}")
        expect(page.locator("main h1")).to_have_text(heading)
        active = page.locator(".nav-link.active")
        expect(active).to_have_text(label)
        expect(active).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page.locator("main")).to_contain_text(live_server.runtime.settings.default_chat_model)


def test_keys_page_issues_a_key_through_htmx(
    page: Page, live_server: LiveServer, acme: Tenant
) -> None:
    signed_in(page, live_server, acme.secret("admin"), "/keys")
    expect(page.locator("#keys tbody tr")).to_have_count(4)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    page.fill("input[name=name]", "ci-bot")
    page.select_option("select[name=role]", "editor")
    page.get_by_role("button", name="Create").click()

    result = page.locator("#key-result")
    expect(result).to_contain_text("Key ci-bot (editor) created.")
    secret = page.locator("#key-result code.secret").inner_text()
    assert re.fullmatch(r"llk_[A-Za-z0-9_-]{40,}", secret)
    assert navigations == []  # swapped in place, no page load
    principal = live_server.runtime.tenancy.authenticate(secret)
    assert principal.role is Role.editor
    assert principal.project == acme.project

    page.reload()
    rows = page.locator("#keys tbody tr")
    expect(rows).to_have_count(5)
    new_row = rows.filter(has_text="ci-bot")
    expect(new_row).to_contain_text("editor")
    expect(new_row).to_contain_text(secret[:12])
    assert secret not in page.content()


def test_keys_page_shows_why_a_key_was_refused(
    page: Page, live_server: LiveServer, acme: Tenant
) -> None:
    signed_in(page, live_server, acme.secret("admin"), "/keys")
    page.fill("input[name=name]", "   ")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#key-result .error")).to_contain_text("a key needs a non-empty name")
    expect(page.locator("#keys tbody tr")).to_have_count(4)


def test_audit_page_shows_the_key_creation(
    page: Page, live_server: LiveServer, acme: Tenant
) -> None:
    signed_in(page, live_server, acme.secret("admin"), "/keys")
    page.fill("input[name=name]", "audited-key")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#key-result code.secret")).to_be_visible()
    (key,) = [
        k for k in live_server.runtime.tenancy.keys.list(acme.project.id) if k.name == "audited-key"
    ]

    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url(f"{live_server.url}/audit")
    first = page.locator("#audit tbody tr").first
    cells = first.locator("td")
    expect(cells.nth(1)).to_have_text("key:admin")
    expect(cells.nth(2)).to_have_text("key.create")
    expect(cells.nth(3)).to_have_text(f"api_key {key.id}")
    expect(page.locator("#audit tbody tr")).to_have_count(6)


def test_viewer_cannot_issue_keys(page: Page, live_server: LiveServer, acme: Tenant) -> None:
    signed_in(page, live_server, acme.secret("viewer"), "/keys")
    expect(page.locator("main")).to_contain_text(
        "Only admins of this project can see and issue keys."
    )
    expect(page.locator("#keys")).to_have_count(0)
    expect(page.locator("input[name=name]")).to_have_count(0)


def test_sign_out(page: Page, live_server: LiveServer, acme: Tenant) -> None:
    signed_in(page, live_server, acme.secret("editor"))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/login")
    page.goto(f"{live_server.url}/audit")
    assert page.url == f"{live_server.url}/login?next=/audit"
