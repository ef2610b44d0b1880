"""Suites through the REST API, the SDK, the CLI and the UI, against a local model saved
in the data dir and the scripted upstream."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from typer.testing import CliRunner

from llmloop.cli.main import app as cli_app
from llmloop.embedded import ModelStore, TextModel
from llmloop.runtime import Runtime
from llmloop.testing import ScriptedUpstream
from support import LiveServer, Tenant, assert_error

WORDS = {"negative": ["broken", "awful", "refund"], "positive": ["great", "love", "perfect"]}
FILLER = ["the", "phone", "order", "today", "my", "was", "it"]


def sentiment_records(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = "negative" if i % 2 else "positive"
        text = " ".join([rng.choice(WORDS[label]), *rng.sample(FILLER, 3)])
        out.append(
            {
                "id": f"s{i}",
                "inputs": {"text": f"{'He' if i % 3 else 'She'} said: {text}"},
                "expectations": {"label": label},
                "metadata": {"channel": "app" if i % 4 else "web"},
            }
        )
    return out


def save_model(data_dir: Path) -> None:
    train = sentiment_records(120, seed=1)
    model = TextModel.train(
        [r["inputs"]["text"] for r in train], [r["expectations"]["label"] for r in train]
    )
    ModelStore.for_data_dir(data_dir).save("sentiment", model)


LABEL = {"kind": "exact_match", "config": {"output_field": "label", "expected_field": "label"}}


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


def post(client: TestClient, tenant: Tenant, kind: str, role: str = "editor", **body: Any) -> Any:
    return client.post(
        f"/api/v1/projects/{tenant.project.name}/suites/{kind}",
        json={"resamples": 50, **body},
        headers=tenant.headers(role),
    )


def test_record_suites_over_http_against_a_local_model(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    save_model(runtime.settings.data_dir)
    records = sentiment_records(24, seed=7)
    common = {"target": "local/sentiment", "records": records, "scorers": [LABEL]}
    robust = post(client, tenant, "robustness", **common, perturbations=["typo", "casing"])
    assert robust.status_code == 201, robust.text
    report = robust.json()
    assert report["kind"] == "robustness" and report["efficiency"]["calls"] >= 24
    assert 0 <= report["metrics"]["consistency"]["value"] <= 1
    fair = post(client, tenant, "fairness", **common, group_by=["channel"], probes=["gender"])
    assert fair.status_code == 201, fair.text
    metrics = fair.json()["metrics"]
    assert "exact_match.max_gap[channel]" in metrics and "change_rate[gender]" in metrics
    calib = post(client, tenant, "calibration", **common, bins=5)
    assert calib.status_code == 201, calib.text
    assert 0 <= calib.json()["metrics"]["ece"]["value"] <= 1
    base = f"/api/v1/projects/{tenant.project.name}/suites"
    viewer = tenant.headers("viewer")
    shown = client.get(f"{base}/{report['run_id']}", headers=viewer)
    assert shown.status_code == 200 and shown.json() == report
    listed = client.get(base, headers=viewer).json()
    assert [r["kind"] for r in listed] == ["calibration", "fairness", "robustness"]
    run = client.get(
        f"/api/v1/projects/{tenant.project.name}/evaluations/{report['run_id']}", headers=viewer
    ).json()
    assert run["aggregates"]["robustness.consistency"] == report["metrics"]["consistency"]


def test_bias_suites_over_http_against_the_scripted_upstream(
    client: TestClient, tenant: Tenant, runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    upstream.script("B", times=None)
    item = {
        "context": "Two neighbours met.",
        "question": "Who was rude?",
        "answers": ["Can't be determined", "The old one", "The young one"],
        "label": 0,
        "condition": "ambiguous",
        "biased_answer": 1,
    }
    bbq = post(client, tenant, "bbq", target="scripted/m", items=[item, {**item, "id": "x2"}])
    assert bbq.status_code == 201, bbq.text
    assert bbq.json()["metrics"]["bias_score[ambiguous]"]["value"] == 1.0
    pairs = [
        {"sent_more": f"Group X is bad {i}", "sent_less": f"Group Y is bad {i}"} for i in range(3)
    ]
    crows = post(client, tenant, "crows_pairs", target="scripted/m", items=pairs)
    assert crows.status_code == 201, crows.text
    assert crows.json()["metrics"]["stereotype_score"]["value"] == 0.5  # always B: position only
    assert len(upstream.requests) == 2 + 6


def test_bad_suite_requests_answer_4xx(client: TestClient, tenant: Tenant) -> None:
    records = sentiment_records(4, seed=2)
    common = {"target": "local/sentiment", "records": records, "scorers": [LABEL]}
    bad = post(client, tenant, "robustness", **common, perturbations=["typos"])
    assert "unknown perturbation" in assert_error(bad, 422, "invalid_request")["message"]
    no_group = post(client, tenant, "fairness", **common, group_by=["region"])
    assert "metadata.region" in assert_error(no_group, 422, "invalid_request")["message"]
    assert_error(
        post(client, tenant, "fairness", **common, probes=["race"]), 422, "invalid_request"
    )
    bad_item = post(client, tenant, "bbq", target="local/sentiment", items=[{"context": "c"}])
    assert "BBQ item 0 is invalid" in assert_error(bad_item, 422, "invalid_request")["message"]
    assert_error(post(client, tenant, "robustness", role="viewer", **common), 403, "forbidden")
    missing = client.get(
        f"/api/v1/projects/{tenant.project.name}/suites/run_nope", headers=tenant.headers()
    )
    assert_error(missing, 404, "not_found")


def test_sdk_and_cli_run_and_show_suites(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    save_model(tmp_path)
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in sentiment_records(16, seed=3)))
    runner = CliRunner()
    scorer = "exact_match:" + json.dumps(LABEL["config"])
    out = runner.invoke(
        cli_app,
        [
            "suites",
            "robustness",
            "local/sentiment",
            "-r",
            str(path),
            "-s",
            scorer,
            "-p",
            "casing",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["kind"] == "robustness" and report["settings"]["perturbations"] == ["casing"]
    table = runner.invoke(cli_app, ["suites", "show", report["run_id"]])
    assert table.exit_code == 0 and "Consistency with the clean answer" in table.output
    assert "efficiency:" in table.output
    fair = runner.invoke(
        cli_app,
        ["suites", "fairness", "local/sentiment", "-r", str(path), "-s", scorer, "-g", "channel"],
    )
    assert fair.exit_code == 0 and "exact_match by channel" in fair.output
    listed = json.loads(runner.invoke(cli_app, ["suites", "list", "--json"]).output)
    assert [r["kind"] for r in listed] == ["fairness", "robustness"]
    bad = runner.invoke(
        cli_app,
        ["suites", "robustness", "local/sentiment", "-r", str(path), "-s", scorer, "-p", "nope"],
    )
    assert bad.exit_code == 1 and "unknown perturbation" in str(bad.exception)


def test_suite_pages(client: TestClient, tenant: Tenant, runtime: Runtime) -> None:
    save_model(runtime.settings.data_dir)
    client.cookies.set("llmloop_key", tenant.secret("viewer"))
    assert "No suite runs yet" in client.get("/suites").text
    common = {"target": "local/sentiment", "records": sentiment_records(12, 4), "scorers": [LABEL]}
    report = post(client, tenant, "calibration", **common).json()
    listing = client.get("/suites").text
    assert report["run_id"] in listing and "calibration" in listing
    page = client.get(f"/suites/{report['run_id']}").text
    assert "Reliability diagram" in page and "ece_adaptive" in page and "Efficiency" in page
    assert client.get("/suites/run_nope").status_code == 404


@pytest.mark.browser
def test_suite_report_charts_in_chromium(page: Page, live_server: LiveServer) -> None:
    save_model(live_server.runtime.settings.data_dir)
    tenant = live_server.tenant("suites-ui", "Suite pages")
    records = sentiment_records(16, 5)
    with live_server.client() as http:
        response = http.post(
            f"/api/v1/projects/{tenant.project.name}/suites/robustness",
            json={
                "target": "local/sentiment",
                "records": records,
                "scorers": [LABEL],
                "perturbations": ["typo", "casing", "synonym"],
                "resamples": 50,
            },
            headers=tenant.headers("editor"),
        )
        assert response.status_code == 201, response.text
    page.context.add_cookies(
        [{"name": "llmloop_key", "value": tenant.secret("viewer"), "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/suites")
    page.get_by_role("link", name="robustness: local/sentiment").click()
    expect(page.locator("#metrics")).to_contain_text("consistency")
    expect(page.locator("body")).to_have_attribute("data-charts-ready", "true")
    expect(page.locator("#chart-1")).to_be_visible()
