"""``client.suites``: run evaluation suites (robustness, fairness, BBQ, CrowS-Pairs,
calibration) against a model reference and read their reports.

To run a suite on a Python callable, use :mod:`llmloop.evaluation.suites` locally.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from llmloop.evaluation.inputs import to_records
from llmloop.evaluation.scorers import ScorerConfig
from llmloop.evaluation.suites.report import SuiteReport
from llmloop.records import Record
from llmloop.sdk.base import AsyncApi, Call, SyncApi, as_type

RecordsLike = Sequence[Record | Mapping[str, Any]] | pd.DataFrame
ScorerLike = ScorerConfig | str | Mapping[str, Any]
RECORD_SUITES = ("robustness", "fairness", "calibration")
ITEM_SUITES = ("bbq", "crows_pairs")


def _base(project: str) -> str:
    return f"/api/v1/projects/{project}/suites"


def run_suite(
    project: str,
    kind: str,
    target: str,
    data: RecordsLike | Sequence[Mapping[str, Any]],
    scorers: Sequence[ScorerLike] | None,
    options: dict[str, Any],
) -> Call[SuiteReport]:
    """A records suite (with scorers) or an items suite (BBQ, CrowS-Pairs: no scorers)."""
    body: dict[str, Any] = {"target": target}
    if kind in ITEM_SUITES:
        body["items"] = [dict(item) for item in data]  # type: ignore[call-overload]
    else:
        body["records"] = [r.model_dump(mode="json") for r in to_records(data)]
        body["scorers"] = [s.spec() if isinstance(s, ScorerConfig) else s for s in scorers or []]
    body.update({k: v for k, v in options.items() if v is not None})
    return Call("POST", f"{_base(project)}/{kind}", as_type(SuiteReport), json=body)


def get_report(project: str, run_id: str) -> Call[SuiteReport]:
    return Call("GET", f"{_base(project)}/{run_id}", as_type(SuiteReport))


def list_reports(project: str, limit: int) -> Call[list[SuiteReport]]:
    return Call("GET", _base(project), as_type(list[SuiteReport]), params={"limit": limit})


class SuitesApi(SyncApi):
    def robustness(
        self, target: str, records: RecordsLike, scorers: Sequence[ScorerLike], **options: Any
    ) -> SuiteReport:
        """Perturbation suite (``field``, ``perturbations``, ``prompt`` …)."""
        return self._run(run_suite(self._project, "robustness", target, records, scorers, options))

    def fairness(
        self, target: str, records: RecordsLike, scorers: Sequence[ScorerLike], **options: Any
    ) -> SuiteReport:
        """Group and counterfactual suite (``group_by``, ``probes``, ``field`` …)."""
        return self._run(run_suite(self._project, "fairness", target, records, scorers, options))

    def calibration(
        self, target: str, records: RecordsLike, scorers: Sequence[ScorerLike], **options: Any
    ) -> SuiteReport:
        """ECE, Brier and reliability (``confidence_field``, ``bins`` …)."""
        return self._run(run_suite(self._project, "calibration", target, records, scorers, options))

    def bbq(self, target: str, items: Sequence[Mapping[str, Any]], **options: Any) -> SuiteReport:
        return self._run(run_suite(self._project, "bbq", target, items, None, options))

    def crows_pairs(
        self, target: str, items: Sequence[Mapping[str, Any]], **options: Any
    ) -> SuiteReport:
        return self._run(run_suite(self._project, "crows_pairs", target, items, None, options))

    def get(self, run_id: str) -> SuiteReport:
        return self._run(get_report(self._project, run_id))

    def list(self, limit: int = 100) -> builtins.list[SuiteReport]:
        return self._run(list_reports(self._project, limit))


class AsyncSuitesApi(AsyncApi):
    async def robustness(
        self, target: str, records: RecordsLike, scorers: Sequence[ScorerLike], **options: Any
    ) -> SuiteReport:
        call = run_suite(self._project, "robustness", target, records, scorers, options)
        return await self._run(call)

    async def fairness(
        self, target: str, records: RecordsLike, scorers: Sequence[ScorerLike], **options: Any
    ) -> SuiteReport:
        call = run_suite(self._project, "fairness", target, records, scorers, options)
        return await self._run(call)

    async def calibration(
        self, target: str, records: RecordsLike, scorers: Sequence[ScorerLike], **options: Any
    ) -> SuiteReport:
        call = run_suite(self._project, "calibration", target, records, scorers, options)
        return await self._run(call)

    async def bbq(
        self, target: str, items: Sequence[Mapping[str, Any]], **options: Any
    ) -> SuiteReport:
        return await self._run(run_suite(self._project, "bbq", target, items, None, options))

    async def crows_pairs(
        self, target: str, items: Sequence[Mapping[str, Any]], **options: Any
    ) -> SuiteReport:
        call = run_suite(self._project, "crows_pairs", target, items, None, options)
        return await self._run(call)

    async def get(self, run_id: str) -> SuiteReport:
        return await self._run(get_report(self._project, run_id))

    async def list(self, limit: int = 100) -> builtins.list[SuiteReport]:
        return await self._run(list_reports(self._project, limit))
