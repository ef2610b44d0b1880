"""``llmloop demo`` as a user runs it: a real process, JSON or the story on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LLMLOOP = str(Path(sys.executable).with_name("llmloop"))


def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMLOOP_DATA_DIR": str(data_dir), "COLUMNS": "120"}
    return subprocess.run(
        [LLMLOOP, "demo", "--no-serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_demo_json_then_story_rerun(tmp_path: Path) -> None:
    done = _run(tmp_path, "--json", "--tickets", "200", "--seed", "5")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # stdout is the JSON document and nothing else
    assert result["project"] == "demo"
    assert result["dataset"]["tickets"] == 200
    assert result["training"]["model"] == "local/ticket-assistant@1"
    assert result["training"]["reused"] is False
    assert 0.4 < result["evaluation"]["overall"]["accuracy"] <= 1
    assert result["shift"]["new_languages"] == ["pt"]
    assert result["live"]["served_by"] == "ticket-assistant@1"
    assert (tmp_path / "models" / "ticket-assistant" / "1" / "manifest.json").is_file()

    story = _run(tmp_path, "--tickets", "200", "--seed", "5")
    assert story.returncode == 0, story.stderr
    accuracy = result["evaluation"]["overall"]["accuracy"] * 100
    assert "reused version 1" in story.stdout
    assert f"accuracy {accuracy:.1f}%" in story.stdout
    assert "The shift" in story.stdout and "Simulated in this run" in story.stdout
    assert "Training" not in story.stderr  # reused, so no training step
    assert "Evaluating" in story.stderr  # progress goes to stderr


def test_demo_refuses_too_few_tickets(tmp_path: Path) -> None:
    done = _run(tmp_path, "--tickets", "10")
    assert done.returncode == 2
    assert "--tickets" in done.stderr
