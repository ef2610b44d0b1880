"""``client.evaluations``: run (in the foreground or the background), resume, cancel,
wait for, list and inspect evaluations, compare runs, check gates.

Runs started through the client evaluate a model reference on the server (or the local
store). To evaluate a Python callable, use :func:`llmloop.evaluation.evaluate` locally.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from llmloop.evaluation.compare import Comparison
from llmloop.evaluation.gate import GateReport
from llmloop.evaluation.inputs import to_records
from llmloop.evaluation.scorers import ScorerConfig
from llmloop.records import Record
from llmloop.sdk.base import AsyncApi, Call, SyncApi, as_type
from llmloop.store.evaluations import EvalResult, EvalRun

ScorerLike = ScorerConfig | str | Mapping[str, Any]
RecordsArg = Sequence[Record | Mapping[str, Any]] | pd.DataFrame | str
Progress = Callable[[EvalRun], None]
POLL_S = 0.5


def _base(project: str) -> str:
    return f"/api/v1/projects/{project}/evaluations"


def _records_json(records: Sequence[Record | Mapping[str, Any]] | pd.DataFrame) -> list[Any]:
    return [r.model_dump(mode="json") for r in to_records(records)]


def run_evaluation(
    project: str,
    target: str | None,
    records: RecordsArg,
    scorers: Sequence[ScorerLike],
    options: dict[str, Any],
) -> Call[EvalRun]:
    """``records`` may be a stored dataset, ``"name"`` or ``"name@alias|vN|id"``."""
    source: dict[str, Any] = (
        {"dataset": records} if isinstance(records, str) else {"records": _records_json(records)}
    )
    body = {
        "target": target,
        **source,
        "scorers": [s.spec() if isinstance(s, ScorerConfig) else s for s in scorers],
        **{k: v for k, v in options.items() if v is not None},
    }
    return Call("POST", _base(project), as_type(EvalRun), json=body)


def resume(
    project: str, run_id: str, records: RecordsArg | None, background: bool
) -> Call[EvalRun]:
    body: dict[str, Any] = {"background": background}
    if records is not None and not isinstance(records, str):
        body["records"] = _records_json(records)
    return Call("POST", f"{_base(project)}/{run_id}/resume", as_type(EvalRun), json=body)


def cancel(project: str, run_id: str) -> Call[EvalRun]:
    return Call("POST", f"{_base(project)}/{run_id}/cancel", as_type(EvalRun))


def list_runs(project: str, limit: int) -> Call[list[EvalRun]]:
    return Call("GET", _base(project), as_type(list[EvalRun]), params={"limit": limit})


def get_run(project: str, run_id: str) -> Call[EvalRun]:
    return Call("GET", f"{_base(project)}/{run_id}", as_type(EvalRun))


def list_results(project: str, run_id: str, limit: int, offset: int) -> Call[list[EvalResult]]:
    params = {"limit": limit, "offset": offset}
    path = f"{_base(project)}/{run_id}/results"
    return Call("GET", path, as_type(list[EvalResult]), params=params)


def compare(project: str, baseline: str, candidate: str) -> Call[Comparison]:
    path = f"{_base(project)}/{candidate}/compare"
    return Call("GET", path, as_type(Comparison), params={"baseline": baseline})


def gate(
    project: str,
    run_id: str,
    rules: Sequence[str],
    baseline: str | None,
    require_golden: bool = False,
) -> Call[GateReport]:
    body = {"rules": list(rules), "baseline": baseline, "require_golden": require_golden}
    return Call("POST", f"{_base(project)}/{run_id}/gate", as_type(GateReport), json=body)


class EvaluationsApi(SyncApi):
    def run(
        self,
        target: str | None,
        records: RecordsArg,
        scorers: Sequence[ScorerLike],
        **options: Any,
    ) -> EvalRun:
        """Evaluate a model reference (or, with None, the records' own outputs) on records
        or a stored dataset (``"tickets@golden"``). With ``background=True`` the run is
        returned at once, still running: follow it with :meth:`wait`."""
        return self._run(run_evaluation(self._project, target, records, scorers, options))

    def resume(
        self, run_id: str, *, records: RecordsArg | None = None, background: bool = False
    ) -> EvalRun:
        """Finish an interrupted run, skipping the records it already scored."""
        return self._run(resume(self._project, run_id, records, background))

    def cancel(self, run_id: str) -> EvalRun:
        """Stop a background run (it becomes ``interrupted`` and can be resumed)."""
        return self._run(cancel(self._project, run_id))

    def wait(
        self, run_id: str, *, on_progress: Progress | None = None, poll_s: float = POLL_S
    ) -> EvalRun:
        """Poll a run until it is no longer running; ``on_progress`` sees each poll."""
        while True:
            run = self.get(run_id)
            if on_progress is not None:
                on_progress(run)
            if run.status != "running":
                return run
            time.sleep(poll_s)

    def list(self, limit: int = 100) -> list[EvalRun]:
        return self._run(list_runs(self._project, limit))

    def get(self, run_id: str) -> EvalRun:
        return self._run(get_run(self._project, run_id))

    def results(
        self, run_id: str, *, limit: int = 1000, offset: int = 0
    ) -> builtins.list[EvalResult]:
        return self._run(list_results(self._project, run_id, limit, offset))

    def compare(self, baseline: str, candidate: str) -> Comparison:
        return self._run(compare(self._project, baseline, candidate))

    def gate(
        self,
        run_id: str,
        rules: Sequence[str],
        *,
        baseline: str | None = None,
        require_golden: bool = False,
    ) -> GateReport:
        return self._run(gate(self._project, run_id, rules, baseline, require_golden))


class AsyncEvaluationsApi(AsyncApi):
    async def run(
        self,
        target: str | None,
        records: RecordsArg,
        scorers: Sequence[ScorerLike],
        **options: Any,
    ) -> EvalRun:
        return await self._run(run_evaluation(self._project, target, records, scorers, options))

    async def resume(
        self, run_id: str, *, records: RecordsArg | None = None, background: bool = False
    ) -> EvalRun:
        return await self._run(resume(self._project, run_id, records, background))

    async def cancel(self, run_id: str) -> EvalRun:
        return await self._run(cancel(self._project, run_id))

    async def wait(
        self, run_id: str, *, on_progress: Progress | None = None, poll_s: float = POLL_S
    ) -> EvalRun:
        while True:
            run = await self.get(run_id)
            if on_progress is not None:
                on_progress(run)
            if run.status != "running":
                return run
            await asyncio.sleep(poll_s)

    async def list(self, limit: int = 100) -> list[EvalRun]:
        return await self._run(list_runs(self._project, limit))

    async def get(self, run_id: str) -> EvalRun:
        return await self._run(get_run(self._project, run_id))

    async def results(
        self, run_id: str, *, limit: int = 1000, offset: int = 0
    ) -> builtins.list[EvalResult]:
        return await self._run(list_results(self._project, run_id, limit, offset))

    async def compare(self, baseline: str, candidate: str) -> Comparison:
        return await self._run(compare(self._project, baseline, candidate))

    async def gate(
        self,
        run_id: str,
        rules: Sequence[str],
        *,
        baseline: str | None = None,
        require_golden: bool = False,
    ) -> GateReport:
        return await self._run(gate(self._project, run_id, rules, baseline, require_golden))
