"""Experiments: a matrix of prompts x models x parameters over one dataset version, run
as one object, and its side-by-side comparison.

    from llmloop import experiment
    exp = experiment(
        "tickets@golden",
        prompts={"short": "{{ question }}", "polite": "Please answer: {{ question }}"},
        models=["openai/gpt-4o-mini", "local/ticket-assistant"],
        params={"temperature": [0.0, 0.7]},
        scorers=["exact_match"],
    )

Each cell is an ordinary evaluation run (so it streams, resumes, gates and compares like
any other) pinned to the dataset version the experiment resolved once. Prompts are
Jinja2 templates rendered in a sandbox, or references to stored prompt versions
(``prompt:<name>@<label|version>``); models may be deployments (``deployment:<name>``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from llmloop.errors import ValidationError
from llmloop.evaluation.compare import MetricDelta, compare_stored
from llmloop.evaluation.inputs import to_records, to_scorers
from llmloop.evaluation.runner import MAX_NAME, RecordsLike, ScorersLike, prepare_evaluation
from llmloop.evaluation.sources import DatasetRef, DatasetSource, ListSource, Source
from llmloop.evaluation.statistics import DEFAULT_RESAMPLES
from llmloop.evaluation.stored_targets import make_target
from llmloop.evaluation.targets import Target
from llmloop.providers.registry import ProviderRegistry
from llmloop.records import Frozen
from llmloop.runtime import Runtime
from llmloop.store.evaluations import Aggregate, EvaluationRepository
from llmloop.store.experiments import Cell, Experiment, ExperimentRepository
from llmloop.tenancy import LOCAL_ACTOR

MAX_CELLS = 64
LOWER_IS_BETTER = ("latency", "cost", "tokens", "error")
PromptsLike = Mapping[str, str] | Sequence[str] | None
ParamsLike = Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None


def prompt_axis(prompts: PromptsLike) -> dict[str, str | None]:
    """Label -> template (or ``prompt:`` reference); a list is labelled p0, p1, …; none
    means the records' inputs are the message."""
    if prompts is None or len(prompts) == 0:
        return {"-": None}
    if isinstance(prompts, str):
        raise ValidationError("prompts must be a list or a {label: template} mapping")
    if isinstance(prompts, Mapping):
        return {str(label): str(text) for label, text in prompts.items()}
    return {f"p{i}": str(text) for i, text in enumerate(prompts)}


def params_axis(params: ParamsLike) -> list[dict[str, Any]]:
    """A list of parameter sets, or ``{"temperature": [0, 0.7]}`` expanded to its grid."""
    if not params:
        return [{}]
    if isinstance(params, Mapping):
        names = list(params)
        for name in names:
            if isinstance(params[name], str) or not isinstance(params[name], Sequence):
                raise ValidationError(
                    f"params[{name!r}] must be a list of values to try, such as [0.0, 0.7]"
                )
        return [
            dict(zip(names, values, strict=True)) for values in itertools.product(*params.values())
        ]
    return [dict(p) for p in params]


def _params_label(params: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(params.items())) or "defaults"


def plan_cells(
    prompts: Mapping[str, str | None], models: Sequence[str], params: Sequence[dict[str, Any]]
) -> list[Cell]:
    if not models:
        raise ValidationError("give at least one model")
    cells = [
        Cell(
            key=f"{label} | {model} | {_params_label(p)}",
            prompt=None if label == "-" else label,
            model=model,
            params=p,
        )
        for label, model, p in itertools.product(prompts, models, params)
    ]
    if len(cells) > MAX_CELLS:
        raise ValidationError(f"the matrix has {len(cells)} cells; at most {MAX_CELLS}")
    keys = [c.key for c in cells]
    if len(set(keys)) != len(keys):
        raise ValidationError("two cells of the matrix are the same; remove repeated values")
    return cells


class CellSummary(Frozen):
    key: str
    prompt: str | None
    model: str
    params: dict[str, Any]
    run_id: str | None
    status: str
    n_done: int = 0
    n_records: int = 0
    aggregates: dict[str, Aggregate] = Field(default_factory=dict)
    versus_baseline: dict[str, MetricDelta] = Field(default_factory=dict)


class ExperimentReport(Frozen):
    """The matrix side by side: each cell's aggregates with intervals, the best cell per
    metric, and paired comparisons of every cell against the baseline cell."""

    experiment: Experiment
    metrics: list[str]
    cells: list[CellSummary]
    best: dict[str, str] = Field(description="Metric -> key of the best cell.")
    baseline: str | None


def better_direction(metric: str) -> int:
    """1 when a higher value is better, -1 for latency, cost, tokens and errors."""
    return -1 if any(word in metric for word in LOWER_IS_BETTER) else 1


def report(
    experiments: ExperimentRepository,
    runs: EvaluationRepository,
    project_id: str,
    experiment_id: str,
    *,
    baseline: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> ExperimentReport:
    """Side-by-side comparison; ``baseline`` (a cell key) defaults to the stored one."""
    exp = experiments.get(project_id, experiment_id)
    base_key = baseline or exp.baseline or exp.cells[0].key
    cells_by_key = {c.key: c for c in exp.cells}
    if base_key not in cells_by_key:
        raise ValidationError(
            f"no cell {base_key!r} in experiment {experiment_id!r}; cells: "
            + ", ".join(repr(k) for k in cells_by_key)
        )
    base_run = cells_by_key[base_key].run_id
    base_finished = base_run is not None and runs.get(project_id, base_run).status == "finished"
    summaries: list[CellSummary] = []
    for cell in exp.cells:
        run = runs.get(project_id, cell.run_id) if cell.run_id else None
        versus: dict[str, MetricDelta] = {}
        if run and run.status == "finished" and base_finished and cell.key != base_key:
            assert base_run is not None
            comparison = compare_stored(runs, project_id, base_run, run.id, resamples=resamples)
            versus = {k: m for k, m in comparison.metrics.items() if "[" not in k}
        summaries.append(
            CellSummary(
                key=cell.key,
                prompt=cell.prompt,
                model=cell.model,
                params=cell.params,
                run_id=cell.run_id,
                status=run.status if run else "pending",
                n_done=run.n_done if run else 0,
                n_records=run.n_records if run else 0,
                aggregates={
                    k: a for k, a in (run.aggregates if run else {}).items() if "[" not in k
                },
                versus_baseline=versus,
            )
        )
    metrics = sorted({name for s in summaries for name in s.aggregates})
    best: dict[str, str] = {}
    for metric in metrics:
        scored = [
            (s.aggregates[metric].value, s.key)
            for s in summaries
            if metric in s.aggregates and s.aggregates[metric].value is not None
        ]
        if scored:
            sign = better_direction(metric)
            best[metric] = max(scored, key=lambda pair: sign * (pair[0] or 0.0))[1]
    return ExperimentReport(
        experiment=exp, metrics=metrics, cells=summaries, best=best, baseline=base_key
    )


def _source(records: RecordsLike, runtime: Runtime, project_id: str) -> Source:
    if isinstance(records, str | DatasetRef):
        ref = records if isinstance(records, DatasetRef) else DatasetRef.parse(records)
        return DatasetSource(runtime.db, project_id, ref)
    return ListSource(to_records(records))


async def prepare_experiment(
    dataset: RecordsLike,
    *,
    models: Sequence[str],
    scorers: ScorersLike,
    runtime: Runtime,
    prompts: PromptsLike = None,
    params: ParamsLike = None,
    system: str | None = None,
    name: str | None = None,
    baseline: str | None = None,
    project: str | None = None,
    actor: str = LOCAL_ACTOR,
) -> tuple[Experiment, dict[str, Target], Source]:
    """Check the matrix (every cell's target and fields, before any model call) and store
    the experiment; the targets by cell key and the pinned source come back with it."""
    project_id = runtime.tenancy.ensure_project(project or runtime.settings.project).id
    configs = to_scorers(scorers)
    axis = prompt_axis(prompts)
    cells = plan_cells(axis, list(models), params_axis(params))
    if baseline is not None and baseline not in {c.key for c in cells}:
        raise ValidationError(
            f"baseline {baseline!r} is not a cell; cells: " + ", ".join(repr(c.key) for c in cells)
        )
    source = await asyncio.to_thread(_source, dataset, runtime, project_id)
    if source.total == 0:
        raise ValidationError("no records to evaluate")
    targets: dict[str, Target] = {}
    for cell in cells:
        template = axis[cell.prompt or "-"]
        targets[cell.key] = await asyncio.to_thread(
            make_target,
            cell.model,
            template,
            runtime,
            project_id,
            system=system,
            params=cell.params,
        )
        await asyncio.to_thread(source.check, targets[cell.key], configs)
    label = source.dataset_ref or f"{source.total} records inline"
    exp = await asyncio.to_thread(
        ExperimentRepository(runtime.db).create,
        project_id,
        name=(name or f"experiment on {label}")[:MAX_NAME],
        dataset_ref=label,
        dataset_version=source.dataset_version,
        axes={
            "prompts": {k: v for k, v in axis.items() if k != "-"},
            "models": list(models),
            "params": params_axis(params),
            "system": system,
        },
        scorers=[c.spec() for c in configs],
        cells=cells,
        baseline=baseline or cells[0].key,
        created_by=actor,
    )
    return exp, targets, source


async def execute_experiment(
    exp: Experiment,
    targets: Mapping[str, Target],
    source: Source,
    *,
    runtime: Runtime,
    concurrency: int = 16,
    cache: bool = True,
    resamples: int = DEFAULT_RESAMPLES,
    providers: ProviderRegistry | None = None,
    actor: str = LOCAL_ACTOR,
) -> Experiment:
    """Run the cells one after another (each with ``concurrency`` workers) on the pinned
    records; a failed or interrupted cell stops the experiment with that status."""
    repo = ExperimentRepository(runtime.db)
    records: RecordsLike = (
        DatasetRef(source.dataset.name, source.version.id)
        if isinstance(source, DatasetSource)
        else list(source.records)
    )
    cells = list(exp.cells)
    project = runtime.tenancy.projects.get(exp.project_id).name
    try:
        for i, cell in enumerate(cells):
            if cell.run_id is not None:
                continue
            prepared = await prepare_evaluation(
                targets[cell.key],
                records,
                exp.scorers,
                runtime=runtime,
                project=project,
                name=f"{exp.name} [{cell.key}]"[:MAX_NAME],
                dataset_ref=exp.dataset_ref,
                actor=actor,
                concurrency=concurrency,
                cache=cache,
                resamples=resamples,
                providers=providers,
                experiment_id=exp.id,
            )
            cells[i] = cell.model_copy(update={"run_id": prepared.run.id})
            await asyncio.to_thread(repo.set_cells, exp.project_id, exp.id, cells)
            await prepared.execute()
    except BaseException as exc:
        stopped = isinstance(exc, KeyboardInterrupt | asyncio.CancelledError | SystemExit)
        repo.finish(
            exp.project_id,
            exp.id,
            status="interrupted" if stopped else "failed",
            error=f"{type(exc).__name__}: {exc}",
        )
        raise
    return await asyncio.to_thread(repo.finish, exp.project_id, exp.id, status="finished")


async def aexperiment(
    dataset: RecordsLike,
    *,
    models: Sequence[str],
    scorers: ScorersLike,
    runtime: Runtime,
    prompts: PromptsLike = None,
    params: ParamsLike = None,
    system: str | None = None,
    name: str | None = None,
    baseline: str | None = None,
    project: str | None = None,
    concurrency: int = 16,
    cache: bool = True,
    resamples: int = DEFAULT_RESAMPLES,
    providers: ProviderRegistry | None = None,
) -> ExperimentReport:
    """Run the matrix and return its side-by-side report."""
    exp, targets, source = await prepare_experiment(
        dataset,
        models=models,
        scorers=scorers,
        runtime=runtime,
        prompts=prompts,
        params=params,
        system=system,
        name=name,
        baseline=baseline,
        project=project,
    )
    await execute_experiment(
        exp,
        targets,
        source,
        runtime=runtime,
        concurrency=concurrency,
        cache=cache,
        resamples=resamples,
        providers=providers,
    )
    return await asyncio.to_thread(
        report,
        ExperimentRepository(runtime.db),
        EvaluationRepository(runtime.db),
        exp.project_id,
        exp.id,
        resamples=resamples,
    )


def experiment(
    dataset: RecordsLike,
    *,
    models: Sequence[str],
    scorers: ScorersLike,
    runtime: Runtime | None = None,
    **options: Any,
) -> ExperimentReport:
    """:func:`aexperiment` for code without an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ValidationError("experiment() runs its own event loop; use 'await aexperiment(...)'")
    owned = runtime is None
    rt = runtime or Runtime()

    async def main() -> ExperimentReport:
        try:
            return await aexperiment(dataset, models=models, scorers=scorers, runtime=rt, **options)
        finally:
            await rt.providers.aclose()

    try:
        return asyncio.run(main())
    finally:
        if owned:
            rt.close()
