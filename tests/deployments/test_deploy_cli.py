"""``llmloop prompts …`` and ``llmloop deploy …`` against the local store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ab_traffic import record_arm

from llmloop.cli.main import main
from llmloop.runtime import Runtime
from llmloop.settings import Settings


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), " ".join(err.split())


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> None:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLMLOOP_DATABASE_URL", db_url)


@pytest.mark.usefixtures("local_env")
def test_cli_prompts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = tmp_path / "triage.toml"
    spec.write_text(
        "params = { temperature = 0.1 }\n"
        '[[messages]]\nrole = "system"\ncontent = "Triage {{ product }} tickets."\n'
        '[[messages]]\nrole = "user"\ncontent = "{{ ticket }}"\n'
        '[[variables]]\nname = "product"\ndefault = "Acme"\n'
        '[[variables]]\nname = "ticket"\n'
    )
    code, out, err = run(capsys, "prompts", "create", "triage", str(spec), "--message", "first")
    assert code == 0, err
    assert out.startswith("triage: new version v1 (pv_")
    code, out, _ = run(capsys, "prompts", "create", "triage", str(spec))
    assert code == 0 and "same content as v1" in out
    code, out, _ = run(
        capsys,
        "prompts",
        "create",
        "triage",
        "--system",
        "Triage {{ product }}.",
        "--user",
        "{{ ticket }}",
        "--var",
        "product=Acme",
        "--var",
        "ticket",
        "--param",
        "temperature=0.3",
        "--label",
        "production",
    )
    assert code == 0 and "new version v2" in out and "labeled production" in out
    code, out, _ = run(capsys, "prompts", "versions", "triage", "--json")
    assert [v["number"] for v in json.loads(out)] == [2, 1]
    code, out, _ = run(capsys, "prompts", "diff", "triage", "v1", "v2")
    assert "-Triage {{ product }} tickets." in out and "+Triage {{ product }}." in out
    assert "param temperature changed: 0.1 -> 0.3" in out
    code, out, _ = run(capsys, "prompts", "label", "triage", "staging", "v1", "--reason", "hold")
    assert code == 0 and "triage: staging -> v1" in out
    code, out, _ = run(
        capsys,
        "prompts",
        "render",
        "triage",
        "-v",
        "staging",
        "--var",
        "ticket=refund please",
        "--json",
    )
    assert json.loads(out) == [
        {"role": "system", "content": "Triage Acme tickets."},
        {"role": "user", "content": "refund please"},
    ]
    code, out, _ = run(capsys, "prompts", "show", "triage", "-v", "production")
    assert "triage v2" in out and "labels: latest, production" in out
    assert "variable ticket: string, required" in out
    code, out, _ = run(capsys, "prompts", "list", "--json")
    assert json.loads(out)[0]["versions"] == 2
    code, _, err = run(capsys, "prompts", "render", "triage")
    assert code == 1 and "missing required variable(s) 'ticket'" in err
    code, _, err = run(capsys, "prompts", "create", "x", "--text", "{{ a")
    assert code == 1 and "syntax error" in err
    code, _, err = run(capsys, "prompts", "create", "x", "--param", "novalue", "--text", "a")
    assert code == 1 and "must look like key=value" in err


@pytest.mark.usefixtures("local_env")
def test_cli_deploy(capsys: pytest.CaptureFixture[str], settings: Settings) -> None:
    run(capsys, "prompts", "create", "triage", "--text", "{{ ticket }}", "--label", "production")
    code, out, err = run(
        capsys,
        "deploy",
        "create",
        "ticket-triage",
        "--model",
        "scripted/a",
        "--prompt",
        "triage",
        "--prompt-version",
        "production",
        "--fallback",
        "scripted/b",
        "--param",
        "max_tokens=20",
    )
    assert code == 0, err
    assert "ticket-triage (production): v1 (dpv_" in out and "(stable)" in out
    code, _, err = run(
        capsys,
        "deploy",
        "create",
        "ticket-triage",
        "--model",
        "scripted/a",
        "--prompt",
        "triage",
        "--prompt-version",
        "v5",
    )
    assert code == 1 and "prompt 'triage' has no version 'v5'" in err
    run(capsys, "deploy", "create", "ticket-triage", "--model", "scripted/c", "--prompt", "triage")
    run(capsys, "deploy", "create", "ticket-triage", "--model", "scripted/s", "--env", "staging")
    code, out, _ = run(
        capsys,
        "deploy",
        "split",
        "ticket-triage",
        "stable=90",
        "v2=10",
        "--sticky-by",
        "user",
        "--reason",
        "canary",
    )
    assert code == 0 and "v1 90%, v2 10%" in out
    code, out, _ = run(capsys, "deploy", "list")
    assert "ticket-triage" in out and "staging" in out and "v1 90%, v2 10%" in out
    code, out, _ = run(capsys, "deploy", "show", "ticket-triage")
    assert "stable -> v1" in out and "sticky by user" in out
    code, out, _ = run(capsys, "deploy", "versions", "ticket-triage", "--json")
    assert [v["model"] for v in json.loads(out)] == ["scripted/c", "scripted/a"]

    with Runtime(settings) as runtime:
        project = runtime.tenancy.ensure_project("default")
        record_arm(runtime.db, project.id, "ticket-triage", "v1", n=200, errors=2)
        record_arm(runtime.db, project.id, "ticket-triage", "v2", n=50, errors=10)
    code, out, _ = run(capsys, "deploy", "ab", "ticket-triage")
    assert code == 0 and "ticket-triage (production), control v1" in out and "worse" in out
    code, out, _ = run(capsys, "deploy", "ab", "ticket-triage", "--json")
    report = json.loads(out)
    assert [a["requests"] for a in report["arms"]] == [200, 50]

    code, out, _ = run(capsys, "deploy", "rollback", "ticket-triage", "--reason", "errors")
    assert code == 0 and "stopped v2; stable v1" in out
    code, out, _ = run(capsys, "deploy", "promote", "ticket-triage", "v2", "--reason", "fixed")
    assert code == 0 and "stable -> v2 (was v1)" in out
    code, out, _ = run(capsys, "deploy", "rollback", "ticket-triage", "--reason", "again")
    assert code == 0 and "stable -> v1" in out
    code, _, err = run(capsys, "deploy", "split", "ticket-triage", "v2")
    assert code == 1 and "must look like version=weight" in err
    code, _, err = run(capsys, "deploy", "promote", "nope", "v1", "--reason", "x")
    assert code == 1 and "deployment 'nope' not found" in err
