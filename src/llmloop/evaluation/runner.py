"""``evaluate(target, records, scorers)``: run a target over records, score, store.

Records stream from their source (a list, or a dataset version read page by page) into
a bounded queue that ``concurrency`` workers pull from; results go to a writer task
that stores them in batches from a worker thread, so the event loop keeps calling the
model. Only one float per record and score is kept for the aggregates, so memory stays
flat however many records there are.

A scorer that raises marks its record errored and the run goes on; a missing field
fails the run before any model call. A run that stops (an exception, Ctrl-C, a killed
process) keeps the results it stored and can be resumed with ``resume=<run id>``:
records already scored are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from llmloop.errors import ConflictError, ValidationError
from llmloop.evaluation.aggregates import Accumulator, StoredRows, aggregate_columns
from llmloop.evaluation.inputs import to_records, to_scorers
from llmloop.evaluation.liveness import is_abandoned, mark_active, mark_done, owner_id
from llmloop.evaluation.scorers import Sample, ScorerConfig, run_scorer
from llmloop.evaluation.sources import DatasetRef, DatasetSource, ListSource, Source
from llmloop.evaluation.statistics import DEFAULT_RESAMPLES
from llmloop.evaluation.stored_targets import is_stored, stored_target
from llmloop.evaluation.targets import (
    Answer,
    RecordOutputs,
    ResponseCache,
    Target,
    resolve_target,
    target_from_spec,
)
from llmloop.providers.registry import ProviderRegistry
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.store.evaluations import RESUMABLE, EvalResult, EvalRun, EvaluationRepository
from llmloop.tenancy import LOCAL_ACTOR

WRITE_BATCH = 500
MAX_NAME = 200  # column sizes of eval_runs
MAX_REF = 500
WRITE_EVERY_S = 1.0
RecordsLike = Iterable[Record | Mapping[str, Any]] | pd.DataFrame | str | DatasetRef
ScorersLike = Sequence[ScorerConfig | str | Mapping[str, Any]]
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class _Plan:
    target: Target
    scorers: list[ScorerConfig]
    providers: ProviderRegistry
    cache: ResponseCache | None


async def _answer(plan: _Plan, record: Record) -> Answer:
    if isinstance(plan.target, RecordOutputs):
        return Answer(outputs=dict(record.outputs or {}))
    return await plan.target.answer(record.inputs, plan.providers, plan.cache)


async def score_record(plan: _Plan, position: int, record: Record, run_id: str = "") -> EvalResult:
    """The target's answer to one record and every scorer's scores (errors kept)."""
    base = {
        "run_id": run_id,
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
    """Write results in batches of up to WRITE_BATCH, at most every WRITE_EVERY_S.

    A batch being written when the run is cancelled is still committed before the
    cancellation goes on, so what the run reports as stored is stored."""
    done = False
    loop = asyncio.get_running_loop()
    while not done:
        batch: list[EvalResult] = []
        deadline = loop.time() + WRITE_EVERY_S
        while len(batch) < WRITE_BATCH:
            try:
                async with asyncio.timeout_at(deadline):
                    item = await queue.get()
            except TimeoutError:
                break
            if item is None:
                done = True
                break
            batch.append(item)
        if batch:
            write = asyncio.ensure_future(asyncio.to_thread(repo.add_results, project_id, batch))
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                await write
                raise


@contextlib.asynccontextmanager
async def _progress(
    enabled: bool, total: int, done: int, callback: ProgressCallback | None
) -> AsyncIterator[Callable[[], None]]:
    count = done

    def report() -> None:
        nonlocal count
        count += 1
        if callback is not None:
            callback(count, total)

    if not enabled:
        yield report
        return
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("evaluating", total=total, completed=done)

        def advance() -> None:
            report()
            bar.advance(task)

        yield advance


@dataclass
class PreparedRun:
    """A stored run, checked and ready to execute (see :func:`prepare_evaluation`)."""

    run: EvalRun
    plan: _Plan
    source: Source
    repo: EvaluationRepository
    concurrency: int
    resamples: int
    done: dict[int, str] = field(default_factory=dict)

    async def execute(
        self, *, progress: bool = False, on_progress: ProgressCallback | None = None
    ) -> EvalRun:
        """Score every record not yet stored, then aggregate; on an exception or
        cancellation the run is marked failed or interrupted and stays resumable."""
        run = self.run
        mark_active(run.id)
        try:
            accumulator = Accumulator(self.source.total)
            if self.done:
                await asyncio.to_thread(self._reload, accumulator)
            async with _progress(progress, self.source.total, len(self.done), on_progress) as tick:
                await self._stream(accumulator, tick)
            aggregates, details = await asyncio.to_thread(self._aggregate, accumulator)
            return await asyncio.to_thread(
                self.repo.finish_run,
                run.project_id,
                run.id,
                aggregates=aggregates,
                details=details,
                n_errors=accumulator.n_errors,
                n_records=accumulator.n,
            )
        except BaseException as exc:
            stopped = isinstance(exc, KeyboardInterrupt | asyncio.CancelledError | SystemExit)
            message = "interrupted" if stopped else f"{type(exc).__name__}: {exc}"
            self.repo.fail_run(
                run.project_id, run.id, message, status="interrupted" if stopped else "failed"
            )
            raise
        finally:
            mark_done(run.id)

    def _reload(self, accumulator: Accumulator) -> None:
        for result in self.repo.iter_results(self.run.project_id, self.run.id):
            accumulator.add(result)

    def _aggregate(self, accumulator: Accumulator) -> tuple[dict[str, Any], dict[str, Any]]:
        rows = StoredRows(self.repo, self.run.project_id, self.run.id, accumulator.n_with_outputs)
        return aggregate_columns(
            self.plan.scorers, accumulator.columns, lambda: rows, resamples=self.resamples
        )

    async def _stream(self, accumulator: Accumulator, tick: Callable[[], None]) -> None:
        workers = max(1, min(self.concurrency, self.source.total - len(self.done)))
        todo: asyncio.Queue[tuple[int, Record] | None] = asyncio.Queue(maxsize=2 * workers)
        written: asyncio.Queue[EvalResult | None] = asyncio.Queue(maxsize=4 * WRITE_BATCH)
        run_id = self.run.id

        async def feed() -> None:
            async for page in self._pages():
                for position, record in page:
                    if position in self.done:
                        self._check_same(position, record)
                        continue
                    await todo.put((position, record))
            for _ in range(workers):
                await todo.put(None)

        async def work() -> None:
            while (item := await todo.get()) is not None:
                result = await score_record(self.plan, item[0], item[1], run_id)
                accumulator.add(result)
                await written.put(result)
                tick()

        async def produce() -> None:
            async with asyncio.TaskGroup() as group:
                group.create_task(feed())
                for _ in range(workers):
                    group.create_task(work())
            await written.put(None)

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(_writer(written, self.repo, self.run.project_id))
                group.create_task(produce())
        except BaseExceptionGroup as errors:
            raise _first(errors) from None

    def _pages(self) -> AsyncIterator[list[tuple[int, Record]]]:
        """The source's pages; a dataset's are read in a worker thread."""
        pages = self.source.pages()
        if isinstance(self.source, ListSource):
            return _aiter(pages)
        return _threaded(pages)

    def _check_same(self, position: int, record: Record) -> None:
        if record.content_hash() != self.done[position]:
            raise ValidationError(
                f"record {position} ({record.id!r}) differs from the one run "
                f"{self.run.id!r} scored; resume with the same records"
            )


def _first(error: BaseException) -> BaseException:
    """The first error of a task group: what the caller should see."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def _aiter(pages: Iterable[Any]) -> AsyncIterator[Any]:
    for page in pages:
        yield page


async def _threaded(pages: Iterable[Any]) -> AsyncIterator[Any]:
    iterator = iter(pages)
    while (page := await asyncio.to_thread(next, iterator, None)) is not None:
        yield page


def _source(records: Any, runtime: Runtime, project_id: str) -> Source:
    if isinstance(records, DatasetRef):
        return DatasetSource(runtime.db, project_id, records)
    if isinstance(records, str):
        return DatasetSource(runtime.db, project_id, DatasetRef.parse(records))
    return ListSource(to_records(records))


def _check_lengths(name: str | None, dataset_ref: str | None) -> None:
    if name is not None and not 0 < len(name) <= MAX_NAME:
        raise ValidationError(f"run name must be 1-{MAX_NAME} characters, got {len(name)}")
    if dataset_ref is not None and len(dataset_ref) > MAX_REF:
        raise ValidationError(f"dataset_ref must be at most {MAX_REF} characters")


def _source_spec(source: Source) -> dict[str, Any] | None:
    if isinstance(source, DatasetSource):
        return {
            "dataset": source.dataset.name,
            "ref": source.dataset_ref,
            "version": source.dataset_version,
        }
    return None


def _take_over(
    repo: EvaluationRepository,
    project_id: str,
    run_id: str,
    plan: _Plan,
    source: Source,
) -> tuple[EvalRun, dict[int, str]]:
    """Check the stored run can be resumed with this target, records and scorers, and
    claim it; return it with the positions already scored."""
    run = repo.get(project_id, run_id)
    if run.status not in RESUMABLE:
        raise ValidationError(f"run {run_id!r} is {run.status}; only unfinished runs resume")
    if run.status == "running" and not is_abandoned(run):
        raise ConflictError(f"run {run_id!r} is still running (owner {run.owner})")
    specs = [c.spec() for c in plan.scorers]
    if specs != run.scorers:
        raise ValidationError(
            f"resume run {run_id!r} with the scorers it started with: {run.scorers}"
        )
    if plan.target.description[:MAX_REF] != run.target:
        raise ValidationError(
            f"run {run_id!r} evaluated {run.target!r}, not {plan.target.description!r}"
        )
    if source.total != run.n_records or (
        run.dataset_version is not None and source.dataset_version != run.dataset_version
    ):
        raise ValidationError(
            f"run {run_id!r} ran on {run.n_records} records"
            + (f" of dataset version {run.dataset_version}" if run.dataset_version else "")
            + f"; these are {source.total} records"
            + (f" of {source.dataset_version}" if source.dataset_version else "")
        )
    done = repo.done_positions(project_id, run_id)
    if isinstance(source, ListSource):
        for position, digest in sorted(done.items()):
            record = source.records[position]
            if record.content_hash() != digest:
                raise ValidationError(
                    f"record {position} ({record.id!r}) differs from the one run {run_id!r} "
                    "scored; resume with the same records"
                )
    taken = repo.reopen(project_id, run_id, owner=owner_id(), expected=run.status)
    if taken is None:
        raise ConflictError(f"run {run_id!r} was resumed by another process just now")
    return taken, done


async def prepare_evaluation(
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
    resamples: int = DEFAULT_RESAMPLES,
    providers: ProviderRegistry | None = None,
    resume: str | None = None,
    experiment_id: str | None = None,
) -> PreparedRun:
    """Check everything (fields, scorers, the target) and store the run, or claim the
    run to ``resume``; no model is called yet."""
    if concurrency < 1:
        raise ValidationError(f"concurrency must be at least 1, got {concurrency}")
    _check_lengths(name, dataset_ref)
    project_id = runtime.tenancy.ensure_project(project or runtime.settings.project).id
    if is_stored(target):
        target = await asyncio.to_thread(stored_target, runtime, project_id, target)
    resolved = resolve_target(target)
    plan = _Plan(
        target=resolved,
        scorers=to_scorers(scorers),
        providers=providers or runtime.providers,
        cache=ResponseCache(runtime.settings.data_dir / "cache" / "evaluation") if cache else None,
    )
    source = await asyncio.to_thread(_source, records, runtime, project_id)
    if source.total == 0:
        raise ValidationError("no records to evaluate")
    await asyncio.to_thread(source.check, resolved, plan.scorers)
    repo = EvaluationRepository(runtime.db)
    if resume is not None:
        run, done = await asyncio.to_thread(_take_over, repo, project_id, resume, plan, source)
        return PreparedRun(run, plan, source, repo, concurrency, resamples, done)
    label = dataset_ref or source.dataset_ref
    default_name = f"{resolved.description} on {label or f'{source.total} records'}"
    run = await asyncio.to_thread(
        repo.create_run,
        project_id,
        name=name or default_name[:MAX_NAME],
        target=resolved.description[:MAX_REF],
        scorers=[c.spec() for c in plan.scorers],
        created_by=actor,
        dataset_ref=label,
        params={
            "concurrency": concurrency,
            "cache": cache,
            "resamples": resamples,
            "target": resolved.spec(),
            "source": _source_spec(source),
        },
        n_records=source.total,
        dataset_version=source.dataset_version,
        owner=owner_id(),
        experiment_id=experiment_id,
    )
    return PreparedRun(run, plan, source, repo, concurrency, resamples)


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
    resume: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> EvalRun:
    """Evaluate ``target`` (a model reference, a callable, or None to score the records'
    own outputs) on ``records`` (a list, a DataFrame, or a dataset ``"name@ref"``) with
    ``scorers``; store and return the run. ``resume=<run id>`` finishes an interrupted
    run of the same target, records and scorers, skipping records already scored."""
    prepared = await prepare_evaluation(
        target,
        records,
        scorers,
        runtime=runtime,
        project=project,
        name=name,
        dataset_ref=dataset_ref,
        actor=actor,
        concurrency=concurrency,
        cache=cache,
        resamples=resamples,
        providers=providers,
        resume=resume,
    )
    return await prepared.execute(progress=progress, on_progress=on_progress)


async def prepare_resume(
    run_id: str,
    *,
    runtime: Runtime,
    project: str | None = None,
    records: RecordsLike | None = None,
    providers: ProviderRegistry | None = None,
) -> PreparedRun:
    """Rebuild a stored run's target, records and scorers and claim it for resuming.

    The records come from the dataset version the run used; a run over records given
    inline needs them again (``records``). Runs of Python callables resume from Python."""
    project_id = runtime.tenancy.ensure_project(project or runtime.settings.project).id
    run = EvaluationRepository(runtime.db).get(project_id, run_id)
    spec = run.params.get("target") or {"kind": "model", "ref": run.target}
    target = (
        stored_target(
            runtime, project_id, spec["ref"], model=spec.get("model"), params=spec.get("params")
        )
        if spec.get("kind") in ("prompt", "deployment")
        else target_from_spec(spec)
    )
    source = run.params.get("source")
    if records is None:
        if source is None:
            raise ValidationError(
                f"run {run_id!r} evaluated records given inline; give the same records again"
            )
        records = DatasetRef(source["dataset"], source["version"])
    return await prepare_evaluation(
        target,
        records,
        run.scorers,
        runtime=runtime,
        project=project,
        concurrency=int(run.params.get("concurrency", 16)),
        cache=bool(run.params.get("cache", True)),
        resamples=int(run.params.get("resamples", DEFAULT_RESAMPLES)),
        providers=providers,
        resume=run_id,
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
