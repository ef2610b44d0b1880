"""docs/prompts-and-deployments.md: its Python and shell examples run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from llmloop.cli.main import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "prompts-and-deployments.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> None:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLMLOOP_DATABASE_URL", db_url)


@pytest.mark.usefixtures("local_env")
def test_python_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    first, policy = blocks("python")
    namespace: dict[str, object] = {}
    exec(compile(first, str(DOC), "exec"), namespace)
    client = namespace["client"]
    client.deployments.create("ticket-triage", "local/ticket-assistant")  # type: ignore[attr-defined]
    exec(compile(policy, str(DOC), "exec"), namespace)
    got = client.deployments.get("ticket-triage")  # type: ignore[attr-defined]
    assert got.deployment.policy.metrics == ["error_rate", "feedback"]
    client.close()  # type: ignore[attr-defined]


@pytest.mark.usefixtures("local_env")
def test_shell_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    (shell,) = blocks("bash")
    outputs: list[str] = []
    for line in shell.strip().splitlines():
        args = shlex.split(line)
        assert args[0] == "llmloop"
        try:
            main(args[1:])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        assert code == 0, (line, err)
        outputs.append(" ".join(out.split()))
    assert "labeled production" in outputs[0]
    assert "v1 90%, v2 10%" in outputs[3]
    assert "stopped v2; stable v1" in outputs[5]
