"""REST API, SDK and CLI of evaluations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from llmloop.cli.main import app as cli_app
from support import Tenant, assert_error

RECORDS = [
    {
        "id": f"r{i}",
        "inputs": {"q": str(i)},
        "outputs": {"label": "a" if i % 4 else "b"},
        "expectations": {"label": "a"},
        "metadata": {"lang": "en"},
    }
    for i in range(12)
]


def start(client: TestClient, tenant: Tenant, **body: Any) -> Any:
    payload = {"records": RECORDS, "scorers": ["classification"], "resamples": 50, **body}
    return client.post(
        f"/api/v1/projects/{tenant.project.name}/evaluations",
        json=payload,
        headers=tenant.headers("editor"),
    )


def test_run_show_results_compare_and_gate_over_http(client: TestClient, tenant: Tenant) -> None:
    created = start(client, tenant, name="outputs check")
    assert created.status_code == 201, created.text
    run = created.json()
    assert run["name"] == "outputs check" and run["aggregates"]["accuracy"]["value"] == 0.75
    base = f"/api/v1/projects/{tenant.project.name}/evaluations"
    viewer = tenant.headers("viewer")
    assert client.get(f"{base}/{run['id']}", headers=viewer).json()["id"] == run["id"]
    results = client.get(f"{base}/{run['id']}/results?limit=5", headers=viewer).json()
    assert [r["record_id"] for r in results] == ["r0", "r1", "r2", "r3", "r4"]
    other = start(client, tenant).json()
    comparison = client.get(
        f"{base}/{other['id']}/compare", params={"baseline": run["id"]}, headers=viewer
    )
    assert comparison.status_code == 200 and comparison.json()["metrics"]["accuracy"]["delta"] == 0
    gate = client.post(
        f"{base}/{other['id']}/gate", json={"rules": ["accuracy>=0.9"]}, headers=viewer
    )
    assert gate.json()["passed"] is False


def test_bad_input_answers_4xx_naming_the_problem(client: TestClient, tenant: Tenant) -> None:
    assert_error(start(client, tenant, scorers=["nope"]), 422, "invalid_request")
    bad_ref = start(client, tenant, target="no-slash")
    assert "model reference 'no-slash'" in assert_error(bad_ref, 422, "invalid_request")["message"]
    missing = start(client, tenant, scorers=["exact_match"])
    assert "expectations.answer" in assert_error(missing, 422, "invalid_request")["message"]
    assert_error(start(client, tenant, records=[]), 422, "invalid_request")
    assert start(client, tenant, scorers=["classification"]).status_code == 201
    viewer_try = client.post(
        f"/api/v1/projects/{tenant.project.name}/evaluations",
        json={"records": RECORDS, "scorers": ["classification"]},
        headers=tenant.headers("viewer"),
    )
    assert_error(viewer_try, 403, "forbidden")
    base = f"/api/v1/projects/{tenant.project.name}/evaluations"
    assert_error(client.get(f"{base}/run_missing", headers=tenant.headers()), 404, "not_found")
    run_id = start(client, tenant).json()["id"]
    rule = client.post(
        f"{base}/{run_id}/gate", json={"rules": ["acc=>1"]}, headers=tenant.headers()
    )
    assert "invalid gate rule 'acc=>1'" in assert_error(rule, 422, "invalid_gate_rule")["message"]


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))


def test_cli_run_show_and_gate_exit_codes(local_env: None, tmp_path: Any) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS))
    runner = CliRunner()
    out = runner.invoke(
        cli_app, ["eval", "run", "outputs", "-r", str(path), "-s", "classification", "--json"]
    )
    assert out.exit_code == 0, out.output
    run_id = json.loads(out.output)["id"]
    shown = runner.invoke(cli_app, ["eval", "show", run_id])
    assert "accuracy" in shown.output and "0.75" in shown.output
    failing = runner.invoke(cli_app, ["eval", "gate", run_id, "--rule", "accuracy>=0.9"])
    assert (
        failing.exit_code == 1
        and "FAIL accuracy>=0.9: accuracy = 0.75 (needs >= 0.9)" in failing.output
    )
    passing = runner.invoke(cli_app, ["eval", "gate", run_id, "--rule", "accuracy>=0.7"])
    assert passing.exit_code == 0 and "gate passed" in passing.output
    invalid = runner.invoke(cli_app, ["eval", "gate", run_id, "--rule", "accuracy=>0.9"])
    assert invalid.exit_code == 2 and "accuracy=>0.9" in invalid.output
    again = runner.invoke(
        cli_app, ["eval", "run", "outputs", "-r", str(path), "-s", "classification"]
    )
    assert again.exit_code == 0, again.output
    listed = json.loads(runner.invoke(cli_app, ["eval", "list", "--json"]).output)
    assert [r["id"] for r in listed][1] == run_id
    compared = runner.invoke(cli_app, ["eval", "compare", run_id, listed[0]["id"], "--json"])
    assert compared.exit_code == 0, compared.output
    assert json.loads(compared.output)["metrics"]["accuracy"]["delta"] == 0
    table = runner.invoke(cli_app, ["eval", "compare", run_id, listed[0]["id"]])
    assert "12 paired records; 0 record scores regressed" in table.output
    bad_scorer = runner.invoke(cli_app, ["eval", "run", "outputs", "-r", str(path), "-s", "nope"])
    assert bad_scorer.exit_code == 1
