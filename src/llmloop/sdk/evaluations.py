"""``client.evaluations``: run, list and inspect evaluations, compare runs, check gates.

Runs started through the client evaluate a model reference on the server (or the local
store). To evaluate a Python callable, use :func:`llmloop.evaluation.evaluate` locally.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
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


def _base(project: str) -> str:
    return f"/api/v1/projects/{project}/evaluations"


def run_evaluation(
    project: str,
    target: str | None,
    records: Sequence[Record | Mapping[str, Any]] | pd.DataFrame,
    scorers: Sequence[ScorerLike],
    options: dict[str, Any],
) -> Call[EvalRun]:
    body = {
        "target": target,
        "records": [r.model_dump(mode="json") for r in to_records(records)],
        "scorers": [s.spec() if isinstance(s, ScorerConfig) else s for s in scorers],
        **{k: v for k, v in options.items() if v is not None},
    }
    return Call("POST", _base(project), as_type(EvalRun), json=body)


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


def gate(project: str, run_id: str, rules: Sequence[str], baseline: str | None) -> Call[GateReport]:
    body = {"rules": list(rules), "baseline": baseline}
    return Call("POST", f"{_base(project)}/{run_id}/gate", as_type(GateReport), json=body)


class EvaluationsApi(SyncApi):
    def run(
        self,
        target: str | None,
        records: Sequence[Record | Mapping[str, Any]] | pd.DataFrame,
        scorers: Sequence[ScorerLike],
        **options: Any,
    ) -> EvalRun:
        """Evaluate a model reference (or, with None, the records' own outputs)."""
        return self._run(run_evaluation(self._project, target, records, scorers, options))

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

    def gate(self, run_id: str, rules: Sequence[str], *, baseline: str | None = None) -> GateReport:
        return self._run(gate(self._project, run_id, rules, baseline))


class AsyncEvaluationsApi(AsyncApi):
    async def run(
        self,
        target: str | None,
        records: Sequence[Record | Mapping[str, Any]] | pd.DataFrame,
        scorers: Sequence[ScorerLike],
        **options: Any,
    ) -> EvalRun:
        return await self._run(run_evaluation(self._project, target, records, scorers, options))

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
        self, run_id: str, rules: Sequence[str], *, baseline: str | None = None
    ) -> GateReport:
        return await self._run(gate(self._project, run_id, rules, baseline))
