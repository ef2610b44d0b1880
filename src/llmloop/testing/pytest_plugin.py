"""Evaluations as tests: a pytest plugin (registered as ``llmloop`` through the
``pytest11`` entry point, so installing llmloop is enough).

A marker runs an evaluation for the test and checks gate rules after the test body::

    @pytest.mark.llmloop_eval(
        target="openai/gpt-4o-mini", prompt="{question}", dataset="tickets@golden",
        scorers=["exact_match"], gate=["exact_match>=0.9"], require_golden=True,
    )
    def test_triage_prompt(llmloop_run):
        assert llmloop_run.run.n_errors == 0

or the ``llmloop_eval`` fixture runs one on demand and returns an :class:`EvaluatedRun`::

    def test_triage_prompt(llmloop_eval):
        result = llmloop_eval("openai/gpt-4o-mini", "tickets@golden", ["exact_match"],
                              prompt="{question}")
        result.assert_gate(["exact_match>=0.9", "delta(exact_match)>=-0.02 vs run_abc"])

A failing gate fails the test with a readable report of every rule. Runs are stored in
the llmloop store of the environment (``LLMLOOP_DATA_DIR``, ``LLMLOOP_DATABASE_URL`` …);
override the ``llmloop_runtime`` fixture to choose another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from llmloop.evaluation.gate import GateReport
    from llmloop.runtime import Runtime
    from llmloop.store.evaluations import EvalRun

MARKER = "llmloop_eval"
RUN_FIXTURE = "llmloop_run"
SHOWN_ERRORS = 5


class GateFailed(AssertionError):
    """A gate rule failed; the message is the whole report."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(target=None, dataset=None, records=None, scorers=..., gate=[], "
        "require_golden=False, baseline=None, **options): run an llmloop evaluation for "
        "this test (as the llmloop_run fixture) and fail the test when a gate rule fails",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A marked test gets its run even when it does not ask for ``llmloop_run``."""
    for item in items:
        names = getattr(item, "fixturenames", None)
        marked = item.get_closest_marker(MARKER) is not None
        if marked and names is not None and RUN_FIXTURE not in names:
            names.append(RUN_FIXTURE)


def format_report(run: EvalRun, report: GateReport, errors: Sequence[str] = ()) -> str:
    """The gate's verdict as a person reads it in a test log."""
    head = (
        f"llmloop gate {'passed' if report.passed else 'FAILED'} for run {run.id} "
        f"({run.target} on {run.dataset_ref or f'{run.n_records} records'}: "
        f"{run.n_records} records, {run.n_errors} errored)"
    )
    lines = [head]
    for check in report.checks:
        lines.append(f"  {'PASS' if check.passed else 'FAIL'} {check.rule}: {check.message}")
    if errors:
        lines.append("  errored records:")
        lines.extend(f"    {e}" for e in errors)
    lines.append(f"  inspect it: llmloop eval show {run.id}")
    return "\n".join(lines)


@dataclass
class EvaluatedRun:
    """A finished run and the runtime it is stored in."""

    run: EvalRun
    runtime: Runtime

    @property
    def aggregates(self) -> dict[str, float | None]:
        return {name: a.value for name, a in self.run.aggregates.items()}

    def gate(
        self,
        rules: Sequence[str],
        *,
        baseline: str | None = None,
        require_golden: bool = False,
    ) -> GateReport:
        # imported here, not at module level: pytest loads this plugin in every session
        from llmloop.evaluation.gate import run_gate
        from llmloop.store.evaluations import EvaluationRepository

        repo = EvaluationRepository(self.runtime.db)
        return run_gate(
            repo,
            self.run.project_id,
            self.run.id,
            list(rules),
            baseline=baseline,
            require_golden=require_golden,
        )

    def assert_gate(
        self,
        rules: Sequence[str],
        *,
        baseline: str | None = None,
        require_golden: bool = False,
    ) -> GateReport:
        """Check the rules; raise :class:`GateFailed` with the report when one fails."""
        report = self.gate(rules, baseline=baseline, require_golden=require_golden)
        if not report.passed:
            raise GateFailed(format_report(self.run, report, self._errors()))
        return report

    def _errors(self) -> list[str]:
        from llmloop.store.evaluations import EvaluationRepository

        if not self.run.n_errors:
            return []
        repo = EvaluationRepository(self.runtime.db)
        shown = []
        for result in repo.iter_results(self.run.project_id, self.run.id):
            if result.error:
                shown.append(f"{result.record_id}: {result.error}")
                if len(shown) == SHOWN_ERRORS:
                    break
        return shown


@pytest.fixture(scope="session")
def llmloop_runtime() -> Iterator[Runtime]:
    """The llmloop store and providers evaluations run with (from the environment)."""
    from llmloop.runtime import Runtime

    with Runtime() as runtime:
        yield runtime


Evaluate = Callable[..., EvaluatedRun]


@pytest.fixture
def llmloop_eval(llmloop_runtime: Runtime) -> Evaluate:
    """``llmloop_eval(target, records_or_dataset, scorers, **options)`` -> EvaluatedRun;
    options are :func:`llmloop.evaluate`'s, plus ``prompt``/``system``/``template`` for
    a model reference."""
    from llmloop.evaluation.runner import evaluate
    from llmloop.evaluation.targets import ModelTarget

    def run(target: Any, records: Any, scorers: Any, **options: Any) -> EvaluatedRun:
        prompt = {k: options.pop(k) for k in ("prompt", "system", "template") if k in options}
        if prompt and isinstance(target, str):
            target = ModelTarget(target, **prompt)
        result = evaluate(target, records, scorers, runtime=llmloop_runtime, **options)
        if result.status != "finished":
            raise AssertionError(f"llmloop run {result.id} {result.status}: {result.error}")
        return EvaluatedRun(result, llmloop_runtime)

    return run


@pytest.fixture
def llmloop_run(request: pytest.FixtureRequest, llmloop_eval: Evaluate) -> EvaluatedRun:
    """The run of this test's ``@pytest.mark.llmloop_eval(...)``."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        raise pytest.UsageError(f"{RUN_FIXTURE} needs @pytest.mark.{MARKER}(...) on the test")
    from llmloop.evaluation.gate import parse_rules

    parse_rules(marker.kwargs.get("gate") or [], allow_none=True)  # bad rules: before any call
    options = dict(marker.kwargs)
    for key in ("gate", "require_golden", "baseline"):
        options.pop(key, None)
    records = options.pop("dataset", None) or options.pop("records", None)
    if records is None or "scorers" not in options:
        raise pytest.UsageError(f"@pytest.mark.{MARKER} needs dataset= (or records=) and scorers=")
    options.setdefault("name", request.node.nodeid[-200:])
    return llmloop_eval(options.pop("target", None), records, options.pop("scorers"), **options)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a marked test's body passes, check the marker's gate rules."""
    result = yield
    marker = item.get_closest_marker(MARKER)
    funcargs = getattr(item, "funcargs", {})
    if marker is not None and RUN_FIXTURE in funcargs:
        rules = marker.kwargs.get("gate") or []
        golden = bool(marker.kwargs.get("require_golden", False))
        if rules or golden:
            funcargs[RUN_FIXTURE].assert_gate(
                rules, baseline=marker.kwargs.get("baseline"), require_golden=golden
            )
    return result
