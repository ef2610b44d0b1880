"""The deployment pages in headless Chromium: history, split editor, A/B charts, rollback."""

from __future__ import annotations

import pytest
from ab_traffic import record_arm
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from llmloop.deployments.service import VersionSpec
from llmloop.prompts.service import Prompts
from llmloop.server.api.deployments import deployments_of
from llmloop.store.prompts import PromptContent
from support import LiveServer, Tenant

pytestmark = pytest.mark.browser
ACTOR = "key:admin"


def signed_in(page: Page, server: LiveServer, secret: str, path: str) -> None:
    page.context.add_cookies([{"name": "llmloop_key", "value": secret, "url": server.url}])
    page.goto(f"{server.url}{path}")


@pytest.fixture
def acme(live_server: LiveServer) -> Tenant:
    tenant = live_server.tenant("acme-deploy")
    runtime = live_server.runtime
    project_id = tenant.project.id
    Prompts(runtime.db, runtime.tenancy.audit).commit(
        project_id,
        "triage",
        PromptContent(kind="text", text="{{ ticket }}"),
        actor=ACTOR,
        create=True,
    )
    deployments = deployments_of(runtime)
    for model in ("scripted/a", "scripted/b"):
        deployments.create_version(
            project_id,
            "ticket-triage",
            VersionSpec(prompt="triage", model=model),
            actor=ACTOR,
            create=True,
        )
    deployments.create_version(
        project_id,
        "ticket-triage",
        VersionSpec(model="scripted/s"),
        actor=ACTOR,
        environment="staging",
        create=True,
    )
    return tenant


def test_list_and_history_with_environments(
    page: Page, live_server: LiveServer, acme: Tenant
) -> None:
    signed_in(page, live_server, acme.secret("viewer"), "/deployments")
    expect(page.locator("main h1")).to_have_text("Deployments")
    rows = page.locator("#deployments tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("production")
    expect(rows.nth(0).locator("td").nth(3)).to_have_text("v1 100%")
    rows.nth(1).get_by_role("link", name="ticket-triage").click()
    expect(page.locator("main h1")).to_contain_text("(staging)")
    expect(page.locator("#versions tbody tr")).to_have_count(1)
    page.goto(f"{live_server.url}/deployments/ticket-triage")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    expect(page.locator("#versions tbody tr").nth(1).locator("td").nth(3)).to_have_text("triage v1")
    expect(page.locator("#versions code.alias")).to_have_text(["stable"])
    # a viewer gets no forms
    expect(page.locator("#split-form")).to_have_count(0)
    expect(page.locator("#rollback-form")).to_have_count(0)


def test_split_editor_ab_charts_and_rollback_button(
    page: Page, live_server: LiveServer, acme: Tenant
) -> None:
    signed_in(page, live_server, acme.secret("editor"), "/deployments/ticket-triage")
    page.get_by_label("weight of v1").fill("80")
    page.get_by_label("weight of v2").fill("20")
    page.locator("#split-form select[name=sticky_by]").select_option("user")
    page.locator("#split-form input[name=reason]").fill("canary v2")
    page.get_by_role("button", name="Save split").click()
    expect(page.get_by_role("status")).to_have_text("Traffic split saved.")
    expect(page.locator("#traffic code")).to_have_text(["v1 80%", "v2 20%"])

    project_id = acme.project.id
    db = live_server.runtime.db
    record_arm(db, project_id, "ticket-triage", "v1", n=200, errors=2, latency_ms=100.0)
    record_arm(db, project_id, "ticket-triage", "v2", n=80, errors=24, latency_ms=140.0)
    page.reload()
    expect(page.locator("#arms tbody tr")).to_have_count(2)
    expect(page.locator("#arms tr[data-arm=v2] td").nth(2)).to_have_text("80")
    errors = page.locator("#comparisons tr[data-metric=error_rate] td")
    expect(errors.nth(4)).to_have_text("+0.29")
    expect(errors.nth(8)).to_have_text("worse")
    expect(errors.nth(5)).to_contain_text("[0.")
    page.wait_for_function("document.body.dataset.chartsReady === 'true'")
    assert page.evaluate("Object.keys(Chart.instances).length") == 3
    labels = page.evaluate(
        "Object.values(Chart.instances).map(c => c.data.labels.join(',')).sort()"
    )
    assert labels == ["v1,v2", "v1,v2", "v2"]
    interval = page.evaluate(
        "Object.values(Chart.instances).find(c => c.canvas.id === 'chart-diff')"
        ".data.datasets[0].data[0]"
    )
    assert 0 < interval[0] < 0.29 < interval[1]

    page.locator("#rollback-form input[name=reason]").fill("error rate up")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Roll back").click()
    expect(page.get_by_role("status")).to_have_text("Rolled back: stopped v2.")
    expect(page.locator("#traffic code")).to_have_text(["v1 100%"])
    expect(page.locator("#history tbody tr").first.locator("td").nth(2)).to_have_text(
        "deployment.rollback"
    )
    expect(page.locator("#history tbody tr").first.locator("td").nth(3)).to_have_text(
        "error rate up"
    )


def test_bad_split_and_promote_show_the_error(
    page: Page, live_server: LiveServer, acme: Tenant
) -> None:
    signed_in(page, live_server, acme.secret("editor"), "/deployments/ticket-triage")
    page.get_by_label("weight of v1").fill("-5")
    page.get_by_role("button", name="Save split").click()  # the browser refuses (min=0)
    expect(page.get_by_role("status")).to_have_count(0)
    page.evaluate("document.getElementById('split-form').noValidate = true")
    page.get_by_role("button", name="Save split").click()  # the server refuses too
    expect(page.get_by_role("alert")).to_have_text("weight of v1 must not be negative, got -5")
    page.locator("#promote-form select[name=version]").select_option("v2")
    page.locator("#promote-form input[name=reason]").fill("looks better")
    page.get_by_role("button", name="Promote to stable").click()
    expect(page.get_by_role("status")).to_have_text("Promoted: stable is v2.")
    expect(page.locator("#stable")).to_have_text("v2")


def test_deployment_pages_need_a_key_and_unknown_is_404(
    client: TestClient, live_server: LiveServer, acme: Tenant, page: Page
) -> None:
    response = client.get("/deployments", follow_redirects=False)
    assert response.status_code == 303
    signed_in(page, live_server, acme.secret("viewer"), "/deployments/nope")
    expect(page.get_by_role("alert")).to_contain_text("deployment 'nope' not found")
    forbidden = live_server.client(cookies={"llmloop_key": acme.secret("viewer")})
    with forbidden:
        denied = forbidden.post("/deployments/ticket-triage/rollback", data={"reason": "x"})
    assert denied.status_code == 403
    assert "needs the &#39;editor&#39; role" in denied.text
    summary = deployments_of(live_server.runtime).summary(acme.project.id, "ticket-triage")
    assert summary.arms == {"v1": 1.0}  # nothing moved
