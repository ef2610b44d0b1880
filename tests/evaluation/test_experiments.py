"""Experiments: the matrix run as one object against the scripted upstream, its
side-by-side report (intervals, best cell, paired deltas vs the baseline), prompt
versions and deployments as targets, and the API and CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from llmloop.cli.main import app as cli_app
from llmloop.data.datasets import Datasets
from llmloop.deployments.service import Deployments, VersionSpec
from llmloop.errors import NotFoundError, ValidationError
from llmloop.evaluation import aevaluate
from llmloop.evaluation.experiments import aexperiment, params_axis
from llmloop.prompts.service import Prompts
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.settings import Settings
from llmloop.store.evaluations import EvaluationRepository
from llmloop.store.prompts import PromptContent
from llmloop.testing import ScriptedUpstream
from support import Tenant, assert_error

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


def dataset(runtime: Runtime, n: int = 12) -> str:
    project = runtime.tenancy.ensure_project("default")
    done = Datasets(runtime.db, runtime.tenancy.audit).commit(
        project.id, "tickets", questions(n), actor="t", create=True
    )
    return done.version.id


async def test_matrix_runs_every_cell_on_one_version_and_compares_side_by_side(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    version = dataset(runtime)
    report = await aexperiment(
        "tickets",
        prompts=PROMPTS,
        models=["scripted/gpt-4o-mini", "scripted/gpt-4o"],
        params={"temperature": [0.0, 0.5]},
        scorers=["exact_match", "token_f1"],
        runtime=runtime,
        resamples=100,
        name="wording",
    )
    await runtime.providers.aclose()
    exp = report.experiment
    assert exp.status == "finished" and exp.dataset_version == version
    assert len(exp.cells) == 8 and all(c.run_id for c in exp.cells)
    assert len(upstream.requests) == 8 * 12
    temperatures = {r.body.get("temperature") for r in upstream.requests}
    assert temperatures == {0.0, 0.5}
    keys = [c.key for c in report.cells]
    assert keys[0] == "plain | scripted/gpt-4o-mini | temperature=0.0" == report.baseline
    repo = EvaluationRepository(runtime.db)
    for cell in report.cells:
        run = repo.get(exp.project_id, cell.run_id or "")
        assert run.experiment_id == exp.id and run.dataset_version == version
        expected = 1.0 if cell.prompt == "plain" else 0.0  # the upstream echoes the message
        assert cell.aggregates["exact_match"].value == expected
        assert cell.aggregates["exact_match"].low is not None
    assert report.best["exact_match"].startswith("plain |")
    assert report.metrics == ["exact_match", "token_f1"]
    wordy = next(c for c in report.cells if c.prompt == "wordy")
    delta = wordy.versus_baseline["exact_match"]
    assert delta.delta == -1.0 and delta.test == "mcnemar_exact" and delta.p_value < 0.01
    assert report.cells[0].versus_baseline == {}  # the baseline itself


async def test_bad_matrices_fail_before_any_model_call(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    dataset(runtime)
    common = {"scorers": ["exact_match"], "runtime": runtime}
    with pytest.raises(ValidationError, match=r"inputs.topic \(needed by the prompt template\)"):
        await aexperiment("tickets", prompts=["{{ topic }}"], models=["scripted/m"], **common)
    with pytest.raises(ValidationError, match="malformed"):
        await aexperiment("tickets", prompts=["{{ q "], models=["scripted/m"], **common)
    with pytest.raises(ValidationError, match="give at least one model"):
        await aexperiment("tickets", models=[], **common)
    with pytest.raises(ValidationError, match="baseline 'x' is not a cell"):
        await aexperiment("tickets", models=["scripted/m"], baseline="x", **common)
    with pytest.raises(ValidationError, match="must be a list of values"):
        await aexperiment("tickets", models=["scripted/m"], params={"temperature": 0.5}, **common)
    with pytest.raises(NotFoundError):
        await aexperiment("nope@golden", models=["scripted/m"], **common)
    assert upstream.requests == []
    assert params_axis({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]


async def test_prompt_versions_and_deployments_are_targets(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    dataset(runtime, 6)
    project = runtime.tenancy.ensure_project("default")
    prompts = Prompts(runtime.db, runtime.tenancy.audit)
    prompts.create(
        project.id,
        "triage",
        content=PromptContent(kind="text", text="{{ q }}", params={"temperature": 0.2}),
        actor="t",
    )
    prompts.commit(project.id, "triage", PromptContent(kind="text", text="Q: {{ q }}"), actor="t")
    report = await aexperiment(
        "tickets",
        prompts={"v1": "prompt:triage@v1", "latest": "prompt:triage@latest"},
        models=["scripted/gpt-4o-mini"],
        scorers=["exact_match"],
        runtime=runtime,
        resamples=50,
    )
    values = {c.prompt: c.aggregates["exact_match"].value for c in report.cells}
    assert values == {"v1": 1.0, "latest": 0.0}
    run = EvaluationRepository(runtime.db).get(project.id, report.cells[0].run_id or "")
    assert run.target == "prompt:triage@v1 on scripted/gpt-4o-mini"
    assert {r.body.get("temperature") for r in upstream.requests[:6]} == {0.2}

    Deployments(runtime.db, runtime.tenancy.audit).create_version(
        project.id,
        "assistant",
        VersionSpec(prompt="triage", prompt_version="v1", model="scripted/gpt-4o"),
        actor="t",
        create=True,
    )
    upstream.reset()
    deployed = await aevaluate(
        "deployment:assistant", "tickets", ["exact_match"], runtime=runtime, resamples=50
    )
    await runtime.providers.aclose()
    assert deployed.target == "deployment:assistant@v1"
    assert deployed.aggregates["exact_match"].value == 1.0
    assert {r.body["model"] for r in upstream.requests} == {"gpt-4o"}
    with pytest.raises(NotFoundError):
        await aevaluate("deployment:nope", "tickets", ["exact_match"], runtime=runtime)
    with pytest.raises(ValidationError, match="names no model"):
        await aevaluate("prompt:triage@v2", "tickets", ["exact_match"], runtime=runtime)


def test_experiment_api_background_report_and_errors(
    client: TestClient, tenant: Tenant, runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    Datasets(runtime.db, runtime.tenancy.audit).commit(
        tenant.project.id, "tickets", questions(8), actor="t", create=True
    )
    base = f"/api/v1/projects/{tenant.project.name}/experiments"
    editor = tenant.headers("editor")
    body = {
        "dataset": "tickets@latest",
        "models": ["scripted/gpt-4o-mini"],
        "prompts": PROMPTS,
        "scorers": ["exact_match"],
        "resamples": 50,
        "background": True,
    }
    started = client.post(base, json=body, headers=editor)
    assert started.status_code == 202, started.text
    exp_id = started.json()["id"]
    for _ in range(400):
        exp = client.get(f"{base}/{exp_id}", headers=editor).json()
        if exp["status"] != "running":
            break
    assert exp["status"] == "finished", exp
    shown = client.get(f"{base}/{exp_id}/report", headers=tenant.headers()).json()
    assert shown["best"]["exact_match"] == "plain | scripted/gpt-4o-mini | defaults"
    other = client.get(
        f"{base}/{exp_id}/report",
        params={"baseline": "wordy | scripted/gpt-4o-mini | defaults"},
        headers=tenant.headers(),
    ).json()
    assert other["cells"][0]["versus_baseline"]["exact_match"]["delta"] == 1.0
    bad = client.get(f"{base}/{exp_id}/report", params={"baseline": "x"}, headers=editor)
    assert "no cell 'x'" in assert_error(bad, 422, "invalid_request")["message"]
    missing = client.post(base, json={**body, "prompts": ["{{ nope }}"]}, headers=editor)
    assert "inputs.nope" in assert_error(missing, 422, "invalid_request")["message"]
    viewer = client.post(base, json=body, headers=tenant.headers("viewer"))
    assert_error(viewer, 403, "forbidden")
    assert_error(client.get(f"{base}/exp_nope", headers=editor), 404, "not_found")
    assert [e["id"] for e in client.get(base, headers=editor).json()] == [exp_id]


def test_cli_experiment_run_and_show(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLMLOOP_OPENAI_BASE_URL", upstream.base_url)
    with Runtime(Settings(data_dir=tmp_path)) as runtime:
        dataset(runtime, 5)
    runner = CliRunner()
    args = ["eval", "experiment", "run", "tickets", "-m", "openai/gpt-4o-mini"]
    args += ["-s", "exact_match", "-p", "plain={{ q }}", "-p", "wordy=Say: {{ q }}"]
    out = runner.invoke(cli_app, [*args, "--param", "temperature=0,1", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert len(report["cells"]) == 4 and report["experiment"]["status"] == "finished"
    shown = runner.invoke(cli_app, ["eval", "experiment", "show", report["experiment"]["id"]])
    assert shown.exit_code == 0, shown.output
    assert "plain | openai/gpt-4o-mini | temperature=0" in shown.output
    assert "(baseline)" in shown.output and "*" in shown.output
    bad = runner.invoke(cli_app, [*args[:6], "-s", "exact_match", "--param", "temperature"])
    assert bad.exit_code == 2
