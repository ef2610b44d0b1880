"""docs/gateway.md's examples run as written against a live server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from llmloop.testing import ScriptedUpstream
from support import LiveServer, Tenant

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"
DOC_URL = "http://127.0.0.1:8642"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_python_examples(
    live_server: LiveServer,
    acme: Tenant,
    upstream: ScriptedUpstream,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LLMLOOP_API_KEY", acme.secret())
    examples = blocks("python")
    assert len(examples) == 2
    for code in examples:
        exec(compile(code.replace(DOC_URL, live_server.url), str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "Hello" in out and "Tell me a story" in out
    assert len(upstream.requests) == 4  # chat, stream, embeddings, LangChain


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_example(live_server: LiveServer, acme: Tenant, upstream: ScriptedUpstream) -> None:
    (command,) = blocks("bash")
    env = {**os.environ, "LLMLOOP_API_KEY": acme.secret()}
    result = subprocess.run(
        ["bash", "-c", command.replace(DOC_URL, live_server.url)],
        capture_output=True, text=True, env=env, timeout=30, check=True,
    )  # fmt: skip
    assert '"content":"Hello"' in result.stdout
