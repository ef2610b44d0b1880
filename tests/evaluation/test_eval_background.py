"""Background runs over HTTP: 202 and progress, cancel and resume; runs on stored
datasets; the golden gate through the API, the SDK and the CLI."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from llmloop.cli.main import app as cli_app
from llmloop.data.datasets import Datasets
from llmloop.evaluation.runner import prepare_evaluation
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.sdk.client import connect
from llmloop.settings import Settings
from llmloop.testing import ScriptedUpstream
from support import Tenant, assert_error


def questions(n: int, offset: int = 0) -> list[Record]:
    return [
        Record(
            id=f"q{i}",
            inputs={"q": f"question {i}"},
            expectations={"answer": f"question {i}"},
        )
        for i in range(offset, offset + n)
    ]


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(latency_ms=30) as up:
        yield up


def base(tenant: Tenant) -> str:
    return f"/api/v1/projects/{tenant.project.name}/evaluations"


def commit(runtime: Runtime, project_id: str, records: list[Record], *, golden: bool) -> str:
    datasets = Datasets(runtime.db, runtime.tenancy.audit)
    done = datasets.commit(project_id, "tickets", records, actor="t", create=True)
    if golden:
        datasets.move_alias(project_id, "tickets", "golden", done.version.id, actor="t")
    return done.version.id


def poll(client: TestClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    seen = []
    for _ in range(600):
        run = client.get(url, headers=headers).json()
        seen.append(run)
        if run["status"] != "running":
            return seen
        time.sleep(0.05)
    raise AssertionError(f"run never finished: {seen[-1]}")


def test_background_run_answers_202_and_shows_progress_until_finished(
    client: TestClient, tenant: Tenant, runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    commit(runtime, tenant.project.id, questions(80), golden=True)
    started = client.post(
        base(tenant),
        json={
            "target": "scripted/gpt-4o-mini",
            "prompt": "{q}",
            "dataset": "tickets@golden",
            "scorers": ["exact_match"],
            "concurrency": 2,
            "cache": False,
            "background": True,
            "resamples": 50,
        },
        headers=tenant.headers("editor"),
    )
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["status"] == "running" and run["n_records"] == 80 and run["n_done"] == 0
    seen = poll(client, f"{base(tenant)}/{run['id']}", tenant.headers())
    progress = [r["n_done"] for r in seen]
    assert progress == sorted(progress) and any(0 < n < 80 for n in progress), progress
    final = seen[-1]
    assert final["status"] == "finished" and final["n_done"] == 80
    assert final["aggregates"]["exact_match"]["value"] == 1.0
    assert final["dataset_ref"] == "tickets@golden"


def test_cancel_interrupts_and_resume_finishes_without_asking_again(
    client: TestClient, tenant: Tenant, runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    commit(runtime, tenant.project.id, questions(200), golden=False)
    editor = tenant.headers("editor")
    run = client.post(
        base(tenant),
        json={
            "target": "scripted/gpt-4o-mini",
            "prompt": "{q}",
            "dataset": "tickets",
            "scorers": ["exact_match"],
            "concurrency": 1,
            "cache": False,
            "background": True,
        },
        headers=editor,
    ).json()
    url = f"{base(tenant)}/{run['id']}"
    for _ in range(400):
        if client.get(url, headers=editor).json()["n_done"] >= 20:
            break
        time.sleep(0.05)
    stopped = client.post(f"{url}/cancel", headers=editor)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "interrupted"
    done = client.get(url, headers=editor).json()["n_done"]
    assert 20 <= done < 200
    again = client.post(f"{url}/cancel", headers=editor)
    assert "not running in this server" in assert_error(again, 409, "conflict")["message"]

    upstream.reset()
    resumed = client.post(f"{url}/resume", json={"background": True}, headers=editor)
    assert resumed.status_code == 202, resumed.text
    final = poll(client, url, editor)[-1]
    assert final["status"] == "finished" and final["n_records"] == 200
    assert final["aggregates"]["exact_match"]["n"] == 200
    assert len(upstream.requests) == 200 - done
    twice = client.post(f"{url}/resume", json={}, headers=editor)
    assert "is finished" in assert_error(twice, 422, "invalid_request")["message"]


def test_bad_dataset_requests_are_4xx(client: TestClient, tenant: Tenant, runtime: Runtime) -> None:
    editor = tenant.headers("editor")
    records = [r.model_dump(mode="json") for r in questions(2)]
    both = client.post(
        base(tenant),
        json={"records": records, "dataset": "tickets", "scorers": ["exact_match"]},
        headers=editor,
    )
    assert "either 'records' or 'dataset'" in assert_error(both, 422, "invalid_request")["message"]
    neither = client.post(base(tenant), json={"scorers": ["exact_match"]}, headers=editor)
    assert_error(neither, 422, "invalid_request")
    missing = client.post(
        base(tenant), json={"dataset": "nope", "scorers": ["exact_match"]}, headers=editor
    )
    assert "nope" in assert_error(missing, 404, "not_found")["message"]
    commit(runtime, tenant.project.id, questions(3), golden=False)
    no_golden = client.post(
        base(tenant), json={"dataset": "tickets@golden", "scorers": ["exact_match"]}, headers=editor
    )
    assert "has no version 'golden'" in assert_error(no_golden, 404, "not_found")["message"]
    resume_missing = client.post(f"{base(tenant)}/run_nope/resume", json={}, headers=editor)
    assert_error(resume_missing, 404, "not_found")


def test_golden_gate_passes_only_on_the_current_golden_version(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    editor = tenant.headers("editor")
    project_id = tenant.project.id
    outputs = [r.model_copy(update={"outputs": {"text": r.inputs["q"]}}) for r in questions(6)]
    commit(runtime, project_id, outputs, golden=True)

    def run_on(dataset: str | None) -> str:
        source: dict[str, Any] = (
            {"dataset": dataset}
            if dataset
            else {"records": [r.model_dump(mode="json") for r in outputs]}
        )
        made = client.post(
            base(tenant),
            json={**source, "scorers": ["exact_match"], "resamples": 20},
            headers=editor,
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    def gate(run_id: str, **body: Any) -> Any:
        return client.post(f"{base(tenant)}/{run_id}/gate", json=body, headers=editor)

    on_golden = run_on("tickets@golden")
    passed = gate(on_golden, rules=["exact_match>=1"], require_golden=True).json()
    assert passed["passed"] is True
    assert passed["checks"][0]["rule"] == "golden"
    assert "the golden version (as tickets@golden)" in passed["checks"][0]["message"]
    assert gate(on_golden, require_golden=True).json()["passed"] is True  # no rules needed
    assert_error(gate(on_golden), 422, "invalid_gate_rule")  # neither rules nor golden

    inline = gate(run_on(None), rules=["exact_match>=1"], require_golden=True).json()
    assert inline["passed"] is False and "not evaluated on a stored dataset" in str(inline)

    latest = run_on("tickets")  # the same version, reached through 'latest'
    assert gate(latest, require_golden=True).json()["passed"] is True
    extra = questions(1, offset=50)[0].model_copy(update={"outputs": {"text": "question 50"}})
    commit(runtime, project_id, [*outputs, extra], golden=False)
    newer = run_on("tickets@latest")  # v2, not golden
    failed = gate(newer, require_golden=True).json()
    assert failed["passed"] is False
    assert "run used tickets v2, but golden is v1" in failed["checks"][0]["message"]


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    return tmp_path


def test_cli_runs_a_dataset_with_progress_and_gates_on_golden(local_env: Path) -> None:
    records = [r.model_copy(update={"outputs": {"text": r.inputs["q"]}}) for r in questions(30)]
    with Runtime(Settings(data_dir=local_env)) as runtime:
        project_id = runtime.tenancy.ensure_project("default").id
        commit(runtime, project_id, records, golden=True)
    runner = CliRunner()
    out = runner.invoke(
        cli_app, ["eval", "run", "outputs", "--dataset", "tickets@golden", "-s", "exact_match"]
    )
    assert out.exit_code == 0, out.output
    assert "30/30 records" in out.output and "dataset tickets@golden = dsv_" in out.output
    with connect() as client:
        run_id = client.evaluations.list()[0].id
        report = client.evaluations.gate(run_id, ["exact_match>=1"], require_golden=True)
    assert report.passed
    gate = runner.invoke(cli_app, ["eval", "gate", run_id, "--require-golden"])
    assert gate.exit_code == 0 and "PASS golden" in gate.output, gate.output
    inline = tmp = local_env / "r.json"
    tmp.write_text(json.dumps([r.model_dump(mode="json") for r in records]))
    plain = runner.invoke(
        cli_app, ["eval", "run", "outputs", "-r", str(inline), "-s", "exact_match", "--json"]
    )
    assert plain.exit_code == 0, plain.output
    plain_id = json.loads(plain.output)["id"]
    refused = runner.invoke(
        cli_app, ["eval", "gate", plain_id, "--require-golden", "--rule", "exact_match>=1"]
    )
    assert refused.exit_code == 1 and "FAIL golden" in refused.output
    with Runtime(Settings(data_dir=local_env)) as runtime:  # a run whose process died at once
        abandoned = asyncio.run(
            prepare_evaluation(None, "tickets@golden", ["exact_match"], runtime=runtime)
        ).run
    assert abandoned.status == "running" and abandoned.n_done == 0
    resumed = runner.invoke(cli_app, ["eval", "run", "--resume", abandoned.id, "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.output)["status"] == "finished"
    assert json.loads(resumed.output)["n_done"] == 30
    usage = runner.invoke(cli_app, ["eval", "run", "outputs", "-s", "exact_match"])
    assert usage.exit_code == 2 and "--records" in usage.output
