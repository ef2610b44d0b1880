"""The prompt pages in headless Chromium: list, versions with diff, and the playground
running a version against a scripted upstream registered as a provider endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from llmloop.prompts.service import Prompts
from llmloop.store.prompts import PromptContent
from llmloop.testing import ScriptedUpstream
from support import LiveServer, Tenant

pytestmark = pytest.mark.browser


def signed_in(page: Page, server: LiveServer, secret: str, path: str) -> None:
    page.context.add_cookies([{"name": "llmloop_key", "value": secret, "url": server.url}])
    page.goto(f"{server.url}{path}")


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


@pytest.fixture
def acme(live_server: LiveServer) -> Tenant:
    tenant = live_server.tenant("acme-prompts")
    prompts = Prompts(live_server.runtime.db, live_server.runtime.tenancy.audit)
    v1 = PromptContent(
        kind="chat",
        messages=[
            {"role": "system", "content": "Triage tickets for {{ product }}."},  # type: ignore[list-item]
            {"role": "user", "content": "Ticket: {{ ticket }}"},
        ],  # type: ignore[list-item]
        variables=[{"name": "product", "default": "Acme"}, {"name": "ticket"}],  # type: ignore[list-item]
        params={"temperature": 0.0},
    )
    prompts.commit(tenant.project.id, "triage", v1, actor="key:admin", create=True, message="first")
    v2 = PromptContent.model_validate(
        {
            **v1.model_dump(),
            "messages": [
                {"role": "system", "content": "Triage tickets for {{ product }}. Be brief."},
                {"role": "user", "content": "Ticket: {{ ticket }}"},
            ],
            "params": {"temperature": 0.3},
        }
    )
    prompts.commit(
        tenant.project.id, "triage", v2, actor="key:admin", labels=("production",), message="brief"
    )
    return tenant


def test_prompt_list_versions_and_diff(page: Page, live_server: LiveServer, acme: Tenant) -> None:
    signed_in(page, live_server, acme.secret("viewer"), "/prompts")
    expect(page.locator("main h1")).to_have_text("Prompts")
    expect(page.locator(".nav-link.active")).to_have_text("Prompts")
    row = page.locator("#prompts tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("v2")
    page.get_by_role("link", name="triage").click()
    page.wait_for_url(f"{live_server.url}/prompts/triage")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    expect(page.locator("#versions tr.selected td").first).to_have_text("v2")
    expect(page.locator("#versions tr.selected code.label")).to_have_text(["latest", "production"])
    diff = page.locator("pre.diff")
    expect(diff.locator("span.del")).to_have_text(["-Triage tickets for {{ product }}."])
    expect(diff.locator("span.add")).to_have_text(["+Triage tickets for {{ product }}. Be brief."])
    expect(page.locator("p.change")).to_have_text(["Parameter temperature changed: 0.0 → 0.3"])
    expect(page.locator("#variables tbody tr")).to_have_count(2)
    # a viewer sees no playground form
    expect(page.locator("#playground")).to_have_count(0)
    page.get_by_role("link", name="v1", exact=True).click()
    expect(page.locator("#diff")).to_contain_text("First version.")


def test_playground_runs_a_version_against_a_model(
    page: Page, live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream
) -> None:
    live_server.runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    signed_in(page, live_server, acme.secret("editor"), "/prompts/triage")
    page.get_by_label("ticket").fill("my parcel is late")
    page.get_by_label("Model").fill("scripted/gpt-test")
    page.get_by_role("button", name="Run v2").click()
    expect(page.locator("#reply")).to_have_text("Ticket: my parcel is late")  # the echo
    expect(page.locator("#rendered .message")).to_have_count(2)
    expect(page.locator("#rendered .message").first).to_contain_text(
        "Triage tickets for Acme. Be brief."
    )
    (request,) = upstream.requests
    assert request.body["model"] == "gpt-test"
    assert request.body["temperature"] == 0.3
    assert request.body["messages"][1] == {"role": "user", "content": "Ticket: my parcel is late"}

    page.get_by_label("ticket").fill("")
    page.get_by_role("button", name="Run v2").click()
    expect(page.get_by_role("alert")).to_have_text(
        "missing required variable(s) 'ticket' for prompt 'triage' v2"
    )
    assert len(upstream.requests) == 1  # nothing sent for an invalid render


def test_missing_prompt_is_404_and_pages_need_a_key(
    page: Page, live_server: LiveServer, acme: Tenant, client: TestClient
) -> None:
    signed_in(page, live_server, acme.secret("viewer"), "/prompts/nope")
    expect(page.get_by_role("alert")).to_have_text("prompt 'nope' not found in this project")
    response = client.get("/prompts", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/prompts"
    assert client.post("/prompts/triage/playground", data={}).status_code == 401
