"""``client.experiments``: run a matrix of prompts x models x parameters over a stored
dataset version on the server (or the local store), follow it, read its report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from llmloop.evaluation.experiments import ExperimentReport
from llmloop.evaluation.scorers import ScorerConfig
from llmloop.sdk.base import AsyncApi, Call, SyncApi, as_type
from llmloop.store.experiments import Experiment

ScorerLike = ScorerConfig | str | Mapping[str, Any]
POLL_S = 0.5


def _base(project: str) -> str:
    return f"/api/v1/projects/{project}/experiments"


def start(
    project: str,
    dataset: str,
    models: Sequence[str],
    scorers: Sequence[ScorerLike],
    options: dict[str, Any],
) -> Call[Experiment]:
    body = {
        "dataset": dataset,
        "models": list(models),
        "scorers": [s.spec() if isinstance(s, ScorerConfig) else s for s in scorers],
        **{k: v for k, v in options.items() if v is not None},
    }
    return Call("POST", _base(project), as_type(Experiment), json=body)


def get(project: str, experiment_id: str) -> Call[Experiment]:
    return Call("GET", f"{_base(project)}/{experiment_id}", as_type(Experiment))


def list_experiments(project: str, limit: int) -> Call[list[Experiment]]:
    return Call("GET", _base(project), as_type(list[Experiment]), params={"limit": limit})


def get_report(project: str, experiment_id: str, baseline: str | None) -> Call[ExperimentReport]:
    params = {"baseline": baseline} if baseline else {}
    path = f"{_base(project)}/{experiment_id}/report"
    return Call("GET", path, as_type(ExperimentReport), params=params)


def cancel(project: str, experiment_id: str) -> Call[Experiment]:
    return Call("POST", f"{_base(project)}/{experiment_id}/cancel", as_type(Experiment))


class ExperimentsApi(SyncApi):
    def run(
        self, dataset: str, models: Sequence[str], scorers: Sequence[ScorerLike], **options: Any
    ) -> Experiment:
        """Run the matrix (``prompts=``, ``params=``, ``baseline=``, ``background=`` …)."""
        return self._run(start(self._project, dataset, models, scorers, options))

    def get(self, experiment_id: str) -> Experiment:
        return self._run(get(self._project, experiment_id))

    def list(self, limit: int = 100) -> list[Experiment]:
        return self._run(list_experiments(self._project, limit))

    def report(self, experiment_id: str, *, baseline: str | None = None) -> ExperimentReport:
        return self._run(get_report(self._project, experiment_id, baseline))

    def cancel(self, experiment_id: str) -> Experiment:
        return self._run(cancel(self._project, experiment_id))

    def wait(self, experiment_id: str, *, poll_s: float = POLL_S) -> Experiment:
        while (exp := self.get(experiment_id)).status == "running":
            time.sleep(poll_s)
        return exp


class AsyncExperimentsApi(AsyncApi):
    async def run(
        self, dataset: str, models: Sequence[str], scorers: Sequence[ScorerLike], **options: Any
    ) -> Experiment:
        return await self._run(start(self._project, dataset, models, scorers, options))

    async def get(self, experiment_id: str) -> Experiment:
        return await self._run(get(self._project, experiment_id))

    async def list(self, limit: int = 100) -> list[Experiment]:
        return await self._run(list_experiments(self._project, limit))

    async def report(self, experiment_id: str, *, baseline: str | None = None) -> ExperimentReport:
        return await self._run(get_report(self._project, experiment_id, baseline))

    async def cancel(self, experiment_id: str) -> Experiment:
        return await self._run(cancel(self._project, experiment_id))

    async def wait(self, experiment_id: str, *, poll_s: float = POLL_S) -> Experiment:
        while (exp := await self.get(experiment_id)).status == "running":
            await asyncio.sleep(poll_s)
        return exp
