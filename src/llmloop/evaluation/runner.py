"""``evaluate(target, records, scorers)``: run a target over records, score, store.

Records are processed by ``concurrency`` workers on one event loop; results are written
to the store in batches by a writer task (in a worker thread, so the loop keeps calling
the model). A scorer that raises marks its record errored and the run goes on; a
missing field fails the run before any model call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from rich.progress import Progress

from llmloop.errors import ValidationError
from llmloop.evaluation.aggregates import aggregate_run
from llmloop.evaluation.inputs import check_fields, to_records, to_scorers
from llmloop.evaluation.scorers import Sample, ScorerConfig, run_scorer
from llmloop.evaluation.statistics import DEFAULT_RESAMPLES
from llmloop.evaluation.targets import Answer, RecordOutputs, ResponseCache, Target, resolve_target
from llmloop.providers.registry import ProviderRegistry
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.store.evaluations import EvalResult, EvalRun, EvaluationRepository
from llmloop.tenancy import LOCAL_ACTOR

WRITE_BATCH = 500
MAX_NAME = 200  # column sizes of eval_runs
MAX_REF = 500
WRITE_EVERY_S = 1.0
RecordsLike = Iterable[Record | Mapping[str, Any]] | pd.DataFrame
ScorersLike = Sequence[ScorerConfig | str | Mapping[str, Any]]


@dataclass(frozen=True)
class _Plan:
    target: Target
    records: list[Record]
    scorers: list[ScorerConfig]
    providers: ProviderRegistry
    cache: ResponseCache | None


async def _answer(plan: _Plan, record: Record) -> Answer:
    if isinstance(plan.target, RecordOutputs):
        return Answer(outputs=dict(record.outputs or {}))
    return await plan.target.answer(record.inputs, plan.providers, plan.cache)


async def score_record(plan: _Plan, position: int, record: Record) -> EvalResult:
    """The target's answer to one record and every scorer's scores (errors kept)."""
    base = {
        "run_id": "",
        "position": position,
        "record_id": record.id,
        "record_hash": record.content_hash(),
        "inputs": record.inputs,
        "expectations": record.expectations,
        "metadata": record.metadata,
    }
    try:
        answer = await _answer(plan, record)
    except Exception as exc:  # a user's callable may raise anything: the record errs
        return EvalResult(**base, error=f"target failed: {type(exc).__name__}: {exc}")
    sample = Sample(
        record_id=record.id,
        inputs=record.inputs,
        outputs=answer.outputs,
        expectations=record.expectations or {},
        metadata=record.metadata,
        latency_ms=answer.latency_ms,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        cost_usd=answer.cost_usd,
        providers=plan.providers,
    )
    scores, errors = [], []
    for config in plan.scorers:
        try:
            scores.extend(await run_scorer(config, sample))
        except Exception as exc:  # a scorer bug on one record must not stop the run
            errors.append(f"scorer {config.score_name!r} raised {type(exc).__name__}: {exc}")
    return EvalResult(
        **base,
        outputs=answer.outputs,
        scores=scores,
        error="; ".join(errors) or None,
        latency_ms=answer.latency_ms,
        cost_usd=answer.cost_usd,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
    )


async def _writer(
    queue: asyncio.Queue[EvalResult | None], repo: EvaluationRepository, project_id: str
) -> None:
    """Write results in batches of up to WRITE_BATCH, at most every WRITE_EVERY_S."""
    done = False
    loop = asyncio.get_running_loop()
    while not done:
        batch: list[EvalResult] = []
        deadline = loop.time() + WRITE_EVERY_S
        while len(batch) < WRITE_BATCH:
            try:
                item = await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                break
            if item is None:
                done = True
                break
            batch.append(item)
        if batch:
            await asyncio.to_thread(repo.add_results, project_id, batch)


@contextlib.asynccontextmanager
async def _progress(enabled: bool, total: int) -> AsyncIterator[Any]:
    if not enabled:
        yield lambda: None
        return
    with Progress(transient=True) as bar:
        task = bar.add_task("evaluating", total=total)
        yield lambda: bar.advance(task)


async def _execute(
    plan: _Plan,
    run: EvalRun,
    repo: EvaluationRepository,
    *,
    concurrency: int,
    progress: bool,
) -> list[EvalResult]:
    results: list[EvalResult | None] = [None] * len(plan.records)
    queue: asyncio.Queue[EvalResult | None] = asyncio.Queue()
    writer = asyncio.create_task(_writer(queue, repo, run.project_id))
    pending: Iterator[tuple[int, Record]] = iter(enumerate(plan.records))

    async with _progress(progress, len(plan.records)) as advance:

        async def worker() -> None:
            for position, record in pending:  # shared iterator: each record taken once
                result = await score_record(plan, position, record)
                result = result.model_copy(update={"run_id": run.id})
                results[position] = result
                queue.put_nowait(result)
                advance()

        try:
            await asyncio.gather(*(worker() for _ in range(min(concurrency, len(results)) or 1)))
        finally:
            queue.put_nowait(None)
            await writer
    return [r for r in results if r is not None]


def _make_plan(
    target: Any,
    records: RecordsLike,
    scorers: ScorersLike,
    runtime: Runtime,
    *,
    providers: ProviderRegistry | None,
    cache: bool,
) -> _Plan:
    """Everything checked before a run is stored or a model called."""
    plan = _Plan(
        target=resolve_target(target),
        records=to_records(records),
        scorers=to_scorers(scorers),
        providers=providers or runtime.providers,
        cache=ResponseCache(runtime.settings.data_dir / "cache" / "evaluation") if cache else None,
    )
    if not plan.records:
        raise ValidationError("no records to evaluate")
    check_fields(plan.target, plan.records, plan.scorers)
    return plan


def _check_lengths(name: str | None, dataset_ref: str | None) -> None:
    if name is not None and not 0 < len(name) <= MAX_NAME:
        raise ValidationError(f"run name must be 1-{MAX_NAME} characters, got {len(name)}")
    if dataset_ref is not None and len(dataset_ref) > MAX_REF:
        raise ValidationError(f"dataset_ref must be at most {MAX_REF} characters")


async def aevaluate(
    target: Any,
    records: RecordsLike,
    scorers: ScorersLike,
    *,
    runtime: Runtime,
    project: str | None = None,
    name: str | None = None,
    dataset_ref: str | None = None,
    actor: str = LOCAL_ACTOR,
    concurrency: int = 16,
    cache: bool = True,
    progress: bool = False,
    resamples: int = DEFAULT_RESAMPLES,
    providers: ProviderRegistry | None = None,
) -> EvalRun:
    """Evaluate ``target`` (a model reference, a callable, or None to score the records'
    own outputs) on ``records`` with ``scorers``; store and return the run."""
    if concurrency < 1:
        raise ValidationError(f"concurrency must be at least 1, got {concurrency}")
    _check_lengths(name, dataset_ref)
    plan = _make_plan(target, records, scorers, runtime, providers=providers, cache=cache)
    resolved = plan.target
    project_id = runtime.tenancy.ensure_project(project or runtime.settings.project).id
    repo = EvaluationRepository(runtime.db)
    default_name = f"{resolved.description} on {dataset_ref or f'{len(plan.records)} records'}"
    run = await asyncio.to_thread(
        repo.create_run,
        project_id,
        name=name or default_name[:MAX_NAME],
        target=resolved.description[:MAX_REF],
        scorers=[c.spec() for c in plan.scorers],
        created_by=actor,
        dataset_ref=dataset_ref,
        params={"concurrency": concurrency, "cache": cache, "resamples": resamples},
        n_records=len(plan.records),
    )
    try:
        results = await _execute(plan, run, repo, concurrency=concurrency, progress=progress)
        aggregates, details = await asyncio.to_thread(
            aggregate_run, plan.scorers, results, resamples=resamples
        )
    except BaseException as exc:
        repo.fail_run(project_id, run.id, f"{type(exc).__name__}: {exc}")
        raise
    n_errors = sum(1 for r in results if r.error is not None)
    return await asyncio.to_thread(
        repo.finish_run,
        project_id,
        run.id,
        aggregates=aggregates,
        details=details,
        n_errors=n_errors,
        n_records=len(results),
    )


def evaluate(
    target: Any,
    records: RecordsLike,
    scorers: ScorersLike,
    *,
    runtime: Runtime | None = None,
    **options: Any,
) -> EvalRun:
    """:func:`aevaluate` for code without an event loop (opens a runtime when none given)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ValidationError(
            "evaluate() runs its own event loop; inside async code (or Jupyter) use "
            "'await aevaluate(...)'"
        )
    owned = runtime is None
    rt = runtime or Runtime()

    async def main() -> EvalRun:
        try:
            return await aevaluate(target, records, scorers, runtime=rt, **options)
        finally:
            await rt.providers.aclose()  # built on this loop; rebuilt on next use

    try:
        return asyncio.run(main())
    finally:
        if owned:
            rt.close()
