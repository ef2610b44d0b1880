"""Streaming from datasets and resuming runs: a process killed (SIGKILL) or interrupted
(SIGINT) mid-run, a cancelled task, and the checks that refuse a wrong resume."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmloop.data.datasets import Datasets
from llmloop.errors import ConflictError, NotFoundError, ValidationError
from llmloop.evaluation import Classification, ModelTarget, aevaluate
from llmloop.evaluation.liveness import is_abandoned
from llmloop.evaluation.runner import prepare_resume
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.settings import Settings
from llmloop.store.evaluations import EvaluationRepository
from llmloop.testing import ScriptedUpstream

CHILD = Path(__file__).with_name("eval_child.py")
ACTOR = "test"


def questions(n: int) -> list[Record]:
    return [
        Record(
            id=f"q{i}",
            inputs={"q": f"question {i}"},
            expectations={"answer": f"question {i}", "label": "a" if i % 3 else "b"},
            metadata={"lang": "en" if i % 2 else "de"},
        )
        for i in range(n)
    ]


def make_dataset(runtime: Runtime, n: int, *, golden: bool = True) -> str:
    project = runtime.tenancy.ensure_project("default")
    datasets = Datasets(runtime.db, runtime.tenancy.audit)
    commit = datasets.create(project.id, "tickets", records=questions(n), actor=ACTOR)
    if golden:
        datasets.move_alias(project.id, "tickets", "golden", "latest", actor=ACTOR)
    return commit.version.id  # type: ignore[union-attr]


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(latency_ms=40) as up:
        yield up


def _wait_for_progress(runtime: Runtime, at_least: int, child: subprocess.Popen[bytes]) -> str:
    repo = EvaluationRepository(runtime.db)
    project_id = runtime.tenancy.ensure_project("default").id
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = repo.list(project_id)
        if runs and runs[0].n_done >= at_least:
            return runs[0].id
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        time.sleep(0.1)
    raise AssertionError("the child never stored results")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
async def test_a_run_stopped_in_another_process_resumes_skipping_scored_records(
    runtime: Runtime,
    settings: Settings,
    db_url: str,
    tmp_path: Path,
    upstream: ScriptedUpstream,
    how: signal.Signals,
) -> None:
    version = make_dataset(runtime, 120)
    child = subprocess.Popen(
        [sys.executable, str(CHILD), db_url, str(tmp_path / "child"), upstream.base_url],
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        run_id = _wait_for_progress(runtime, 10, child)
        child.send_signal(how)
        child.wait(timeout=90)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    repo = EvaluationRepository(runtime.db)
    project_id = runtime.tenancy.ensure_project("default").id
    stopped = repo.get(project_id, run_id)
    stored = repo.count_results(project_id, run_id)
    assert 0 < stored < 120
    assert stopped.dataset_ref == "tickets@golden" and stopped.dataset_version == version
    if how == signal.SIGKILL:
        assert stopped.status == "running" and is_abandoned(stopped)
    else:
        assert stopped.status == "interrupted" and stopped.error == "interrupted"

    upstream.reset()
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    prepared = await prepare_resume(run_id, runtime=runtime)
    assert prepared.run.status == "running" and prepared.run.n_done == stored
    finished = await prepared.execute()
    await runtime.providers.aclose()
    assert finished.status == "finished" and finished.n_records == 120
    assert finished.aggregates["exact_match"].value == 1.0
    assert finished.aggregates["exact_match"].n == 120
    assert len(upstream.requests) == 120 - stored  # scored records were not asked again
    results = repo.results(project_id, run_id)
    assert [r.position for r in results] == list(range(120))
    assert [r.record_id for r in results] == [f"q{i}" for i in range(120)]


async def test_a_cancelled_run_is_interrupted_and_resumes_to_the_same_aggregates(
    runtime: Runtime,
) -> None:
    calls: list[str] = []
    gate = asyncio.Event()

    async def target(inputs: dict[str, Any]) -> dict[str, Any]:
        calls.append(inputs["q"])
        if len(calls) > 30:
            await gate.wait()  # hangs until cancelled
        return {"text": inputs["q"], "label": "a"}

    records = questions(60)
    scorers = ["exact_match", Classification()]
    task = asyncio.create_task(
        aevaluate(target, records, scorers, runtime=runtime, concurrency=2, resamples=100)
    )
    repo = EvaluationRepository(runtime.db)
    project_id = runtime.tenancy.ensure_project("default").id
    for _ in range(200):
        await asyncio.sleep(0.05)
        runs = repo.list(project_id)
        if runs and runs[0].n_done >= 30:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    run = repo.list(project_id)[0]
    stored = repo.count_results(project_id, run.id)
    assert run.status == "interrupted" and stored >= 30

    gate.set()
    calls.clear()
    resumed = await aevaluate(
        target, records, scorers, runtime=runtime, concurrency=2, resamples=100, resume=run.id
    )
    fresh = await aevaluate(target, records, scorers, runtime=runtime, resamples=100)
    assert resumed.id == run.id and resumed.status == "finished"
    assert len(calls) == 60 - stored + 60  # the rest of the resumed run, then a fresh one
    assert resumed.aggregates == fresh.aggregates  # same values, same intervals
    assert resumed.details == fresh.details


async def test_resume_refuses_other_scorers_records_and_finished_runs(runtime: Runtime) -> None:
    def target(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"text": inputs["q"]}

    records = questions(10)
    run = await aevaluate(target, records, ["exact_match"], runtime=runtime, resamples=20)
    with pytest.raises(ValidationError, match="is finished; only unfinished runs resume"):
        await aevaluate(target, records, ["exact_match"], runtime=runtime, resume=run.id)
    repo = EvaluationRepository(runtime.db)
    repo.fail_run(run.project_id, run.id, "interrupted", status="interrupted")
    with pytest.raises(ValidationError, match="with the scorers it started with"):
        await aevaluate(target, records, ["token_f1"], runtime=runtime, resume=run.id)
    with pytest.raises(ValidationError, match="ran on 10 records; these are 9 records"):
        await aevaluate(target, records[:9], ["exact_match"], runtime=runtime, resume=run.id)
    changed = [records[0].model_copy(update={"inputs": {"q": "other"}}), *records[1:]]
    with pytest.raises(ValidationError, match=r"record 0 \('q0'\) differs"):
        await aevaluate(target, changed, ["exact_match"], runtime=runtime, resume=run.id)
    with pytest.raises(NotFoundError):
        await aevaluate(target, records, ["exact_match"], runtime=runtime, resume="run_nope")
    with pytest.raises(ValidationError, match="is a Python callable; resume it from Python"):
        await prepare_resume(run.id, runtime=runtime)


async def test_a_live_run_cannot_be_taken_over(runtime: Runtime) -> None:
    gate = asyncio.Event()

    async def target(inputs: dict[str, Any]) -> dict[str, Any]:
        await gate.wait()
        return {"text": inputs["q"]}

    task = asyncio.create_task(
        aevaluate(target, questions(4), ["exact_match"], runtime=runtime, resamples=20)
    )
    await asyncio.sleep(0.3)
    project_id = runtime.tenancy.ensure_project("default").id
    run = EvaluationRepository(runtime.db).list(project_id)[0]
    assert run.status == "running" and not is_abandoned(run)
    with pytest.raises(ConflictError, match="is still running"):
        await aevaluate(target, questions(4), ["exact_match"], runtime=runtime, resume=run.id)
    gate.set()
    assert (await task).status == "finished"


async def test_a_dataset_streams_in_pages_and_records_its_version(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llmloop.evaluation.sources.PAGE", 7)
    version = make_dataset(runtime, 30)

    def target(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"text": inputs["q"], "label": "a"}

    run = await aevaluate(
        target, "tickets@golden", ["exact_match", Classification()], runtime=runtime, resamples=50
    )
    assert run.dataset_ref == "tickets@golden" and run.dataset_version == version
    assert run.n_records == 30 and run.n_done == 30 and run.status == "finished"
    assert run.aggregates["accuracy"].value == pytest.approx(20 / 30)
    assert run.details["confusion_matrix"]["classes"] == ["a", "b"]
    assert run.params["source"] == {
        "dataset": "tickets",
        "ref": "tickets@golden",
        "version": version,
    }
    with pytest.raises(NotFoundError, match="has no version 'v9'"):
        await aevaluate(target, "tickets@v9", ["exact_match"], runtime=runtime)
    with pytest.raises(ValidationError, match="must be written"):
        await aevaluate(target, "tickets@", ["exact_match"], runtime=runtime)


async def test_a_dataset_missing_a_field_fails_before_any_call_naming_it(
    runtime: Runtime, upstream: ScriptedUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llmloop.evaluation.sources.PAGE", 4)
    project = runtime.tenancy.ensure_project("default")
    records = [*questions(9), Record(id="bare", inputs={"q": "x"}, expectations={})]
    Datasets(runtime.db, runtime.tenancy.audit).create(
        project.id, "tickets", records=records, actor=ACTOR
    )
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    with pytest.raises(ValidationError) as info:
        await aevaluate(
            ModelTarget("scripted/m", prompt="{q}"), "tickets", ["exact_match"], runtime=runtime
        )
    assert "expectations.answer (needed by scorer 'exact_match')" in info.value.message
    assert "9 (bare)" in info.value.message
    with pytest.raises(ValidationError, match=r"inputs.topic \(needed by the prompt template\)"):
        await aevaluate(
            ModelTarget("scripted/m", prompt="{{ topic }}", template="jinja"),
            "tickets",
            ["exact_match"],
            runtime=runtime,
        )
    assert upstream.requests == []
    await runtime.providers.aclose()
