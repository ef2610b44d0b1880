"""The pytest plugin, run in a separate pytest (``pytester``) as a user's CI would: the
marker and the fixture gate a good prompt and fail a deliberately worse one with a
readable report; the golden requirement and a bad marker are reported too."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmloop.data.datasets import Datasets
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.settings import Settings
from llmloop.testing import ScriptedUpstream

pytest_plugins = ["pytester"]

TESTS = """
import pytest

GOOD = "{q}"
WORSE = "Answer briefly: {q}"

@pytest.mark.llmloop_eval(
    target="openai/gpt-4o-mini", prompt=GOOD, dataset="tickets@golden",
    scorers=["exact_match"], gate=["exact_match>=0.9"], require_golden=True, cache=False,
)
def test_good_prompt_passes_the_gate(llmloop_run):
    assert llmloop_run.run.n_records == 8

@pytest.mark.llmloop_eval(
    target="openai/gpt-4o-mini", prompt=WORSE, dataset="tickets@golden",
    scorers=["exact_match"], gate=["exact_match>=0.9"], cache=False,
)
def test_worse_prompt_fails_the_gate():
    pass

def test_fixture_form(llmloop_eval):
    result = llmloop_eval("openai/gpt-4o-mini", "tickets@latest", ["exact_match"], prompt=WORSE)
    assert result.aggregates["exact_match"] == 0.0
    result.assert_gate(["exact_match>=0.5"], require_golden=True)

@pytest.mark.llmloop_eval(dataset="tickets", scorers=["exact_match"], gate=["exact_match=>1"])
def test_invalid_rule(llmloop_run):
    pass
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir with dataset 'tickets': v1 is golden, v2 (latest) has one more record."""
    data = tmp_path / "data"
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(data))
    records = [
        Record(id=f"q{i}", inputs={"q": f"question {i}"}, expectations={"answer": f"question {i}"})
        for i in range(9)
    ]
    with Runtime(Settings(data_dir=data)) as runtime:
        project = runtime.tenancy.ensure_project("default").id
        datasets = Datasets(runtime.db, runtime.tenancy.audit)
        datasets.commit(project, "tickets", records[:8], actor="ci", create=True)
        datasets.move_alias(project, "tickets", "golden", "v1", actor="ci")
        datasets.commit(project, "tickets", records, actor="ci")
    return data


def test_marker_and_fixture_gate_a_good_and_a_worse_prompt(
    pytester: pytest.Pytester, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ScriptedUpstream() as upstream:
        monkeypatch.setenv("LLMLOOP_OPENAI_BASE_URL", upstream.base_url)
        pytester.makepyfile(test_prompts=TESTS)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and outcomes.get("failed") == 2, result.stdout.str()
    assert outcomes.get("errors") == 1, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*GateFailed: llmloop gate FAILED for run run_* (openai/gpt-4o-mini on "
            "tickets@golden: 8 records, 0 errored)",
            "*FAIL exact_match>=0.9: exact_match = 0 (needs >= 0.9)",
            "*inspect it: llmloop eval show run_*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*FAIL golden: run used tickets v2, but golden is v1*",
            "*FAIL exact_match>=0.5: exact_match = 0 (needs >= 0.5)",
        ]
    )
    result.stdout.fnmatch_lines(["*GateRuleError: invalid gate rule 'exact_match=>1'*"])
    assert "test_good_prompt" not in "".join(
        line for line in result.outlines if line.startswith(("FAILED", "ERROR"))
    )


def test_plugin_is_registered_through_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(llmloop_eval):\n    assert callable(llmloop_eval)\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.llmloop_eval(*"])
    assert pytester.runpytest_subprocess("-p", "no:cacheprovider").ret == 0
