"""Runner behaviour: bounded concurrency, provider retries, the sync entry point,
semantic similarity on the embedded model, and the async SDK."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import llmloop
from llmloop.evaluation import ModelTarget, aevaluate
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.settings import Settings
from llmloop.store.evaluations import EvaluationRepository
from llmloop.testing import ScriptedUpstream


def records(n: int) -> list[Record]:
    return [Record(inputs={"q": f"q{i}"}, expectations={"answer": f"q{i}"}) for i in range(n)]


async def test_concurrency_is_bounded_and_used(runtime: Runtime) -> None:
    active = peak = 0

    async def target(inputs: dict[str, Any]) -> str:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return str(inputs["q"])

    run = await aevaluate(target, records(40), ["exact_match"], runtime=runtime, concurrency=7)
    assert peak == 7
    assert run.aggregates["exact_match"].value == 1.0


async def test_upstream_errors_are_retried_by_the_provider(runtime: Runtime) -> None:
    with ScriptedUpstream() as up:
        up.script(status=500)
        up.script(status=429, headers={"Retry-After": "0"})
        runtime.providers.register_endpoint("scripted", base_url=up.base_url)
        target = ModelTarget("scripted/gpt-4o-mini", prompt="{q}")
        run = await aevaluate(target, records(1), ["exact_match"], runtime=runtime, cache=False)
        assert run.n_errors == 0 and run.aggregates["exact_match"].value == 1.0
        assert len(up.requests) == 3
        await runtime.providers.aclose()


async def test_upstream_failing_for_good_errs_the_record_naming_the_failure(
    runtime: Runtime,
) -> None:
    with ScriptedUpstream() as up:
        up.script(status=400, error={"message": "bad things"})
        runtime.providers.register_endpoint("scripted", base_url=up.base_url)
        target = ModelTarget("scripted/m", prompt="{q}")
        run = await aevaluate(target, records(2), ["exact_match"], runtime=runtime, cache=False)
        results = EvaluationRepository(runtime.db).results(run.project_id, run.id)
        errors = [r.error for r in results if r.error]
        assert run.n_errors == 1 and errors[0] is not None
        assert errors[0].startswith("target failed: ProviderError:")
        await runtime.providers.aclose()


def test_sync_evaluate_is_exported_and_stores_the_run(settings: Settings, runtime: Runtime) -> None:
    run = llmloop.evaluate(
        lambda inputs: inputs["q"], records(5), ["exact_match"], runtime=runtime, resamples=20
    )
    stored = EvaluationRepository(runtime.db).get(run.project_id, run.id)
    assert stored.status == "finished" and stored.aggregates["exact_match"].value == 1.0
    assert stored.target.startswith("callable:")


async def test_semantic_similarity_on_the_embedded_model(runtime: Runtime) -> None:
    pairs = [
        ("the refund was issued", "your refund has been issued"),
        ("the refund was issued", "shipping is delayed by snow"),
    ]
    items = [
        Record(inputs={"q": "x"}, outputs={"text": t}, expectations={"answer": a}) for t, a in pairs
    ]
    run = await aevaluate(None, items, ["semantic_similarity"], runtime=runtime, resamples=20)
    results = EvaluationRepository(runtime.db).results(run.project_id, run.id)
    close, far = (r.scores[0].numeric for r in results)
    assert close is not None and far is not None
    assert -1 <= far < close <= 1
    await runtime.providers.aclose()


@pytest.fixture
def local_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))


async def test_async_sdk_runs_lists_and_gates(local_settings: None) -> None:
    items = [
        {"inputs": {"q": str(i)}, "outputs": {"text": "yes"}, "expectations": {"answer": "yes"}}
        for i in range(5)
    ]
    async with await llmloop.aconnect() as client:
        run = await client.evaluations.run(None, items, ["exact_match"], resamples=20)
        assert [r.id for r in await client.evaluations.list()] == [run.id]
        assert len(await client.evaluations.results(run.id)) == 5
        report = await client.evaluations.gate(run.id, ["exact_match>=1"])
        assert report.passed
