"""docs/annotation.md: the SDK example runs as written and prints what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmloop.cli.annotate import queues_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "annotation.md"


def test_sdk_example_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLMLOOP_DATABASE_URL", db_url)
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    exec(compile(code, str(DOC), "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["0.5", "v2 ['ann, bo', 'local']"]


def test_cli_commands_exist() -> None:
    (block,) = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    used = {line.split()[2] for line in block.splitlines() if line.startswith("llmloop queues")}
    names = {c.name for c in queues_app.registered_commands}
    assert used <= names and len(used) == 9
