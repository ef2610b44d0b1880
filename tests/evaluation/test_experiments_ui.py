"""Pages of experiments and run progress: HTML through the app, and Chromium following a
background run's progress bar and reading an experiment's matrix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from llmloop.data.datasets import Datasets
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.testing import ScriptedUpstream
from support import LiveServer, Tenant

PROMPTS = {"plain": "{{ q }}", "wordy": "Answer this: {{ q }}"}


def questions(n: int) -> list[Record]:
    return [
        Record(id=f"q{i}", inputs={"q": f"question {i}"}, expectations={"answer": f"question {i}"})
        for i in range(n)
    ]


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


def seed(runtime: Runtime, project_id: str, n: int) -> None:
    Datasets(runtime.db, runtime.tenancy.audit).commit(
        project_id, "tickets", questions(n), actor="t", create=True
    )


def test_experiment_pages_show_the_matrix_best_cells_and_deltas(
    client: TestClient, tenant: Tenant, runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    seed(runtime, tenant.project.id, 6)
    client.cookies.set("llmloop_key", tenant.secret("viewer"))
    assert "No experiments yet" in client.get("/experiments").text
    made = client.post(
        f"/api/v1/projects/{tenant.project.name}/experiments",
        json={
            "dataset": "tickets",
            "models": ["scripted/gpt-4o-mini"],
            "prompts": PROMPTS,
            "scorers": ["exact_match"],
            "name": "wording matrix",
            "resamples": 50,
        },
        headers=tenant.headers("editor"),
    )
    assert made.status_code == 201, made.text
    exp = made.json()
    listing = client.get("/experiments").text
    assert "wording matrix" in listing and "2 / 2" in listing
    page = client.get(f"/experiments/{exp['id']}").text
    assert 'id="matrix"' in page and "★" in page
    assert "plain | scripted/gpt-4o-mini | defaults" in page
    assert "-1 (p=0.031)" in page  # wordy vs the plain baseline, McNemar exact on 6 records
    switched = client.get(
        f"/experiments/{exp['id']}", params={"baseline": "wordy | scripted/gpt-4o-mini | defaults"}
    ).text
    assert "+1 (p=0.031)" in switched
    bad = client.get(f"/experiments/{exp['id']}", params={"baseline": "nope"})
    assert bad.status_code == 422 and "no cell &#39;nope&#39;" in bad.text
    assert client.get("/experiments/exp_nope").status_code == 404
    run_page = client.get(f"/evaluations/{exp['cells'][0]['run_id']}").text
    assert f"/experiments/{exp['id']}" in run_page
    assert "Experiments" in client.get("/evaluations").text  # the nav entry


def test_progress_fragment_reloads_the_page_once_the_run_stops(
    client: TestClient, tenant: Tenant
) -> None:
    client.cookies.set("llmloop_key", tenant.secret("viewer"))
    made = client.post(
        f"/api/v1/projects/{tenant.project.name}/evaluations",
        json={
            "records": [
                {"id": "a", "inputs": {"q": "x"}, "outputs": {"text": "x"},
                 "expectations": {"answer": "x"}},
            ],
            "scorers": ["exact_match"],
            "resamples": 20,
        },
        headers=tenant.headers("editor"),
    )  # fmt: skip
    run_id = made.json()["id"]
    fragment = client.get(f"/evaluations/{run_id}/progress")
    assert fragment.status_code == 200 and fragment.headers["HX-Refresh"] == "true"
    assert "1 / 1 records" in fragment.text
    assert client.get("/evaluations/run_nope/progress").status_code == 404
    client.cookies.clear()
    assert client.get(f"/evaluations/{run_id}/progress").status_code == 401


@pytest.mark.browser
def test_chromium_follows_a_background_run_and_reads_a_matrix(
    page: Page, live_server: LiveServer, runtime: Runtime
) -> None:
    with ScriptedUpstream(latency_ms=40) as upstream:
        runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
        tenant = live_server.tenant("exp-ui", "Experiment pages")
        seed(runtime, tenant.project.id, 60)
        with live_server.client() as http:
            run = http.post(
                f"/api/v1/projects/{tenant.project.name}/evaluations",
                json={
                    "target": "scripted/gpt-4o-mini",
                    "prompt": "{q}",
                    "dataset": "tickets",
                    "scorers": ["exact_match"],
                    "concurrency": 1,
                    "cache": False,
                    "background": True,
                },
                headers=tenant.headers("editor"),
            ).json()
        page.context.add_cookies(
            [{"name": "llmloop_key", "value": tenant.secret("viewer"), "url": live_server.url}]
        )
        page.goto(f"{live_server.url}/evaluations/{run['id']}")
        bar = page.locator("#run-progress")
        expect(bar).to_have_attribute("data-status", "running")
        first = int(bar.get_attribute("data-done") or 0)
        expect(bar).not_to_have_attribute("data-done", str(first), timeout=10_000)  # polled
        expect(page.locator("#aggregates")).to_contain_text("exact_match", timeout=30_000)
        expect(page.locator("#run-progress")).to_have_count(0)  # reloaded when finished

        with live_server.client() as http:
            exp = http.post(
                f"/api/v1/projects/{tenant.project.name}/experiments",
                json={
                    "dataset": "tickets",
                    "models": ["scripted/gpt-4o-mini"],
                    "prompts": PROMPTS,
                    "scorers": ["exact_match"],
                    "concurrency": 16,
                    "resamples": 50,
                },
                headers=tenant.headers("editor"),
            ).json()
        page.goto(f"{live_server.url}/experiments")
        page.get_by_role("link", name=exp["name"]).click()
        matrix = page.locator("#matrix")
        expect(matrix).to_contain_text("plain")
        best = page.locator('#matrix tr[data-cell^="plain"] td[data-metric="exact_match"]')
        expect(best).to_contain_text("★")
        expect(page.locator("body")).to_have_attribute("data-charts-ready", "true")
        page.select_option("#baseline-form select", "wordy | scripted/gpt-4o-mini | defaults")
        page.click("#baseline-form button")
        expect(page.locator("#baseline")).to_have_text("wordy | scripted/gpt-4o-mini | defaults")
        expect(best).to_contain_text("+1")
