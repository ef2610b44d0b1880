"""The README's commands and examples run as written (STYLE.md: docs are tested)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from llmloop.cli.main import main

README = Path(__file__).resolve().parents[1] / "README.md"
MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def cli(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_readme_starts_with_the_two_commands() -> None:
    first = blocks("bash")[0]
    commands = [line.split("#")[0].strip() for line in first.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    targets = re.findall(r"^([a-z]+):", MAKEFILE.read_text(), flags=re.M)
    assert {"demo", "test", "check", "serve", "bench"} <= set(targets)


@pytest.fixture
def demo_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    code, out, err = cli(capsys, ["demo", "--no-serve", "--json", "--tickets", "400"])
    assert code == 0, err
    assert json.loads(out)
    return tmp_path


def run_block(code: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    exec(compile(code, str(README), "exec"), {})
    return capsys.readouterr().out.splitlines()


def test_readme_python_examples_run(
    demo_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sdk, tracing, evaluation, weak_supervision = blocks("python")

    lines = run_block(sdk, capsys)
    assert lines[0] == "default"
    assert lines[1] == "['key.create', 'project.create']"
    label, probability = lines[2].split()
    assert label == "billing" and 0 < float(probability) <= 1

    assert run_block(tracing, capsys) == ["shipping", "triage"]

    (line,) = run_block(evaluation, capsys)
    value, low, high = (float(x.strip("[],")) for x in line.split())
    assert 0.7 <= low <= value <= high <= 1.0

    methods = dict(line.split() for line in run_block(weak_supervision, capsys))
    assert set(methods) == {"majority_vote", "label_model"}
    assert all(0.8 < float(accuracy) <= 1.0 for accuracy in methods.values())


def test_readme_cli_examples_run(demo_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tour = blocks("bash")[1]
    commands = [line.split("  #")[0].strip() for line in tour.splitlines() if line.strip()]
    assert len(commands) >= 5
    for command in commands:
        args = shlex.split(command)
        assert args[0] == "llmloop"
        code, out, err = cli(capsys, args[1:])
        assert code == 0, f"{command}: {err}"
        assert out.strip(), command
