"""Evaluation pages: runs list, run detail, comparison (HTML via the app, and Chromium)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from support import LiveServer, Tenant

RECORDS = [
    {
        "id": f"r{i}",
        "inputs": {"q": str(i)},
        "outputs": {"label": "a" if i % 4 else "b"},
        "expectations": {"label": "a"},
        "metadata": {"lang": "en" if i % 2 else "fr"},
    }
    for i in range(12)
]


def start(http: Any, tenant: Tenant, records: list[dict[str, Any]] = RECORDS, **body: Any) -> Any:
    payload = {"records": records, "scorers": ["classification"], "resamples": 50, **body}
    url = f"/api/v1/projects/{tenant.project.name}/evaluations"
    response = http.post(url, json=payload, headers=tenant.headers("editor"))
    assert response.status_code == 201, response.text
    return response.json()


def test_pages_show_runs_aggregates_slices_and_comparison(
    client: TestClient, tenant: Tenant
) -> None:
    client.cookies.set("llmloop_key", tenant.secret("viewer"))
    assert "No evaluation runs yet" in client.get("/evaluations").text
    base = start(client, tenant, name="baseline run")
    worse = [dict(r, outputs={"label": "b"}) if r["id"] in ("r1", "r2") else r for r in RECORDS]
    cand = start(client, tenant, worse, name="candidate run")
    listing = client.get("/evaluations").text
    assert "baseline run" in listing and "candidate run" in listing and base["id"] in listing
    detail = client.get(f"/evaluations/{base['id']}").text
    assert "accuracy" in detail and "0.75" in detail
    assert "lang = fr" in detail and "Confusion matrix" in detail
    assert "predicted &#39;b&#39;, expected &#39;a&#39;" in detail  # rationale drill-down
    compared = client.get(f"/evaluations/{cand['id']}/compare", params={"baseline": base["id"]})
    assert compared.status_code == 200
    assert "Regressed records (2)" in compared.text and "mcnemar_exact" in compared.text
    missing = client.get("/evaluations/run_nope")
    assert (
        missing.status_code == 404 and "evaluation run &#39;run_nope&#39; not found" in missing.text
    )


def test_pages_need_a_login(client: TestClient) -> None:
    response = client.get("/evaluations", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


@pytest.mark.browser
def test_run_detail_and_compare_in_chromium(page: Page, live_server: LiveServer) -> None:
    tenant = live_server.tenant("eval-ui", "Evaluation pages")
    with live_server.client() as http:
        base = start(http, tenant, name="v1")
        start(http, tenant, [dict(r, outputs={"label": "b"}) for r in RECORDS], name="v2")
    page.context.add_cookies(
        [{"name": "llmloop_key", "value": tenant.secret("viewer"), "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/evaluations")
    page.get_by_role("link", name="v2").click()
    expect(page.locator("#aggregates")).to_contain_text("accuracy")
    expect(page.locator("#slices")).to_contain_text("lang = en")
    page.select_option("#compare-form select", base["id"])
    page.click("#compare-form button")
    expect(page.locator("#deltas")).to_contain_text("accuracy")
    expect(page.locator("#regressed")).to_contain_text("r1")
