"""``llmloop demo`` as a user runs it: a real process, JSON on stdout; the story from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from llmloop.cli import output
from llmloop.cli.demo import print_story
from llmloop.cli.main import app
from llmloop.demo import DemoResult

LLMLOOP = str(Path(sys.executable).with_name("llmloop"))


def test_demo_json_prints_the_measured_figures_and_nothing_else(tmp_path: Path) -> None:
    env = {**os.environ, "LLMLOOP_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [
            LLMLOOP,
            "demo",
            "--no-serve",
            "--json",
            "--chapter",
            "1",
            "--tickets",
            "200",
            "--seed",
            "5",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = DemoResult.model_validate(json.loads(done.stdout))  # stdout: the JSON alone
    assert result.project == "demo"
    assert result.data_dir == str(tmp_path)
    assert (result.dataset.tickets, result.options.seed) == (200, 5)
    assert result.training.model == "local/ticket-assistant@1"
    assert not result.training.reused
    assert 0.4 < result.evaluation.overall.accuracy <= 1
    assert result.shift.new_languages == ["pt"]
    assert result.live.served_by == "ticket-assistant@1"
    assert (tmp_path / "models" / "ticket-assistant" / "1" / "manifest.json").is_file()
    assert "Training" not in done.stderr  # no progress display in --json mode

    with output.console.capture() as captured:
        print_story(result)
    story = captured.get()
    assert f"accuracy {result.evaluation.overall.accuracy * 100:.1f}%" in story
    assert f"accuracy {result.shift.overall.accuracy * 100:.1f}%" in story
    assert "new language (pt)" in story and "Simulated in this run" in story


def test_demo_refuses_too_few_tickets() -> None:
    done = CliRunner().invoke(app, ["demo", "--no-serve", "--tickets", "10"])
    assert done.exit_code == 2
    assert "--tickets" in done.output
