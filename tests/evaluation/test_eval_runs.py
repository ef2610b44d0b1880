"""Runs end to end on SQLite and PostgreSQL: callables and models as targets, errors kept
per record, missing fields refused before any call, cache, comparison and gates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from llmloop.errors import ValidationError
from llmloop.evaluation import Classification, ModelTarget, aevaluate, compare_stored, run_gate
from llmloop.evaluation.gate import GateRule, GateRuleError
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.store.evaluations import EvaluationRepository
from llmloop.testing import ScriptedUpstream


def tickets(n: int = 30) -> list[Record]:
    labels = ["billing", "shipping", "account"]
    return [
        Record(
            id=f"rec_{i}",
            inputs={"question": f"ticket {i}"},
            expectations={"label": labels[i % 3], "answer": f"answer {i}"},
            metadata={"language": "en" if i % 2 else "de"},
        )
        for i in range(n)
    ]


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


async def test_callable_run_stores_results_aggregates_and_errored_records(runtime: Runtime) -> None:
    def target(inputs: dict[str, Any]) -> dict[str, Any]:
        i = int(inputs["question"].split()[1])
        return {
            "label": ["billing", "shipping", "account"][i % 3] if i % 5 else "billing",
            "text": f"answer {i}",
        }

    class Boom(Exception):
        pass

    records = tickets()
    run = await aevaluate(
        target,
        records,
        ["exact_match", Classification()],
        runtime=runtime,
        resamples=100,
        dataset_ref="tickets@v1",
    )
    assert run.status == "finished" and run.n_records == 30 and run.n_errors == 0
    assert run.dataset_ref == "tickets@v1"
    assert run.aggregates["exact_match"].value == 1.0
    accuracy = run.aggregates["accuracy"]
    assert accuracy.value == pytest.approx(26 / 30)  # i % 5 == 0 and label != billing: 4 wrong
    assert accuracy.low is not None and accuracy.high is not None
    assert accuracy.low <= accuracy.value <= accuracy.high
    assert run.details["confusion_matrix"]["classes"] == ["account", "billing", "shipping"]
    repo = EvaluationRepository(runtime.db)
    results = repo.results(run.project_id, run.id)
    assert [r.record_id for r in results] == [r.id for r in records]
    assert results[3].outputs == {"label": "billing", "text": "answer 3"}
    assert {s.name for s in results[3].scores} == {"exact_match", "correct"}
    assert repo.list(run.project_id)[0].id == run.id


async def test_a_raising_scorer_or_target_errs_that_record_and_the_run_goes_on(
    runtime: Runtime,
) -> None:
    def target(inputs: dict[str, Any]) -> Any:
        if inputs["question"] == "ticket 4":
            raise RuntimeError("upstream exploded")
        if inputs["question"] == "ticket 7":
            return {"label": "billing", "text": {"not": "text"}}
        return {"label": "billing", "text": "{}"}

    run = await aevaluate(
        target,
        tickets(10),
        ["json_valid", {"kind": "regex", "config": {"pattern": "{"}}],
        runtime=runtime,
        resamples=50,
    )
    results = EvaluationRepository(runtime.db).results(run.project_id, run.id)
    assert run.status == "finished" and run.n_errors == 1
    assert results[4].error == "target failed: RuntimeError: upstream exploded"
    assert results[4].outputs is None and results[4].scores == []
    assert results[7].error is None  # structured output is JSON-encoded for text scorers
    assert run.aggregates["json_valid"].n == 9


async def test_scorer_exception_is_recorded_with_its_message(runtime: Runtime) -> None:
    def target(inputs: dict[str, Any]) -> Any:
        return {"label": None} if inputs["question"] == "ticket 2" else {"label": "billing"}

    run = await aevaluate(target, tickets(6), ["json_valid"], runtime=runtime, resamples=20)
    results = EvaluationRepository(runtime.db).results(run.project_id, run.id)
    assert run.n_errors == 6
    assert results[2].error is not None
    assert "scorer 'json_valid' raised KeyError" in results[2].error
    assert "outputs.text is missing (has: label)" in results[2].error


async def test_missing_field_fails_before_any_model_call_naming_it(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    records = [*tickets(5), Record(id="rec_bad", inputs={"question": "q"}, expectations={})]
    with pytest.raises(ValidationError) as info:
        await aevaluate("scripted/m", records, ["exact_match"], runtime=runtime)
    assert (
        "expectations.answer (needed by scorer 'exact_match') "
        "is missing in 1 record(s): 5 (rec_bad)" in info.value.message
    )
    with pytest.raises(ValidationError, match=r"inputs.topic \(needed by the prompt template\)"):
        await aevaluate(
            ModelTarget("scripted/m", prompt="{topic}: {question}"),
            tickets(2),
            ["exact_match"],
            runtime=runtime,
        )
    assert upstream.requests == []
    assert EvaluationRepository(runtime.db).list(runtime.tenancy.ensure_project("default").id) == []
    await runtime.providers.aclose()


async def test_model_target_through_the_provider_with_cache(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    runtime.providers.register_endpoint("scripted", base_url=upstream.base_url)
    records = [
        Record(id=f"r{i}", inputs={"q": f"say {i}"}, expectations={"answer": f"say {i}"})
        for i in range(4)
    ]
    target = ModelTarget("scripted/gpt-4o-mini", prompt="{q}", system="Echo.")
    first = await aevaluate(
        target, records, ["exact_match", "efficiency"], runtime=runtime, resamples=20
    )
    assert first.aggregates["exact_match"].value == 1.0  # the upstream echoes the user message
    assert first.aggregates["total_tokens"].value is not None
    assert len(upstream.requests) == 4
    assert upstream.requests[0].body["messages"][0] == {"role": "system", "content": "Echo."}
    await aevaluate(target, records, ["exact_match"], runtime=runtime, resamples=20)
    assert len(upstream.requests) == 4  # answered from the cache
    await aevaluate(target, records, ["exact_match"], runtime=runtime, resamples=20, cache=False)
    assert len(upstream.requests) == 8
    await runtime.providers.aclose()


async def test_dataframe_records_and_record_outputs_target(runtime: Runtime) -> None:
    frame = pd.DataFrame(
        {
            "inputs.q": ["a", "b"],
            "outputs.text": ["yes", "no"],
            "expectations.answer": ["yes", "yes"],
        }
    )
    run = await aevaluate(None, frame, ["exact_match"], runtime=runtime, resamples=20)
    assert run.target == "record-outputs" and run.aggregates["exact_match"].value == 0.5
    with pytest.raises(ValidationError, match="column 'question' is not one of"):
        await aevaluate(None, pd.DataFrame({"question": ["a"]}), ["exact_match"], runtime=runtime)


async def test_compare_and_gate_find_the_regression(runtime: Runtime) -> None:
    records = tickets(60)

    def good(inputs: dict[str, Any]) -> dict[str, Any]:
        i = int(inputs["question"].split()[1])
        return {"label": ["billing", "shipping", "account"][i % 3]}

    def worse(inputs: dict[str, Any]) -> dict[str, Any]:
        i = int(inputs["question"].split()[1])
        return {"label": "billing" if i % 2 else good(inputs)["label"]}

    base = await aevaluate(good, records, [Classification()], runtime=runtime, resamples=200)
    cand = await aevaluate(worse, records, [Classification()], runtime=runtime, resamples=200)
    repo = EvaluationRepository(runtime.db)
    comparison = compare_stored(repo, base.project_id, base.id, cand.id, resamples=200)
    correct = comparison.metrics["correct"]
    assert correct.test == "mcnemar_exact" and correct.fixed == 0 and correct.broken == 20
    assert correct.p_value < 0.001 and correct.delta == pytest.approx(-20 / 60)
    assert comparison.metrics["f1"].delta is not None and comparison.metrics["f1"].delta < 0
    assert {r.record_id for r in comparison.regressed} == {
        f"rec_{i}" for i in range(60) if i % 2 and i % 3
    }
    de = [
        s
        for s in comparison.slices
        if s.key == "language" and s.value == "de" and s.metric == "correct"
    ]
    assert de[0].delta == 0.0  # even tickets were untouched

    report = run_gate(
        repo, base.project_id, cand.id, ["accuracy>=0.9", "delta(f1)>=-0.01"], baseline=base.id
    )
    assert not report.passed and [c.passed for c in report.checks] == [False, False]
    assert "delta(f1) = " in report.checks[1].message and base.id in report.checks[1].message
    same = run_gate(
        repo,
        base.project_id,
        base.id,
        ["accuracy>=0.9", f"delta(accuracy)>=0 vs {base.id} at p<0.05"],
    )
    assert same.passed
    with pytest.raises(GateRuleError, match="has no metric 'f2'; it has: "):
        run_gate(repo, base.project_id, cand.id, ["f2>=0.5"])
    with pytest.raises(GateRuleError, match="needs a baseline run"):
        run_gate(repo, base.project_id, cand.id, ["delta(f1)>=0"])


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("accuracy>=0.9", ("accuracy", ">=", 0.9, False, None, None)),
        ("delta(f1) >= -0.01 vs run_1", ("f1", ">=", -0.01, True, "run_1", None)),
        ("delta(f1[billing])>-.5 at p<0.05", ("f1[billing]", ">", -0.5, True, None, 0.05)),
    ],
)
def test_gate_rules_parse(text: str, parsed: tuple[Any, ...]) -> None:
    rule = GateRule.parse(text)
    assert (rule.metric, rule.op, rule.threshold, rule.delta, rule.baseline, rule.alpha) == parsed


@pytest.mark.parametrize(
    "text", ["accuracy", "accuracy=>0.9", "delta(f1>=0", "accuracy>=0.9 vs run_1", "f1>=high"]
)
def test_invalid_gate_rules_are_named(text: str) -> None:
    with pytest.raises(GateRuleError) as info:
        GateRule.parse(text)
    assert repr(text) in info.value.message


@pytest.mark.parametrize(
    ("records", "options", "message"),
    [
        ([Record(id="x" * 201, inputs={"q": 1})], {}, "longer than 200 characters"),
        ([{"inputs": "not a dict"}], {}, "record 0 is invalid: inputs"),
        ([{"id": "a", "inputs": {}}, {"id": "a", "inputs": {}}], {}, "record id 'a' appears"),
        ([], {}, "no records to evaluate"),
        ([{"inputs": {"q": 1}}], {"name": "n" * 201}, "run name must be 1-200 characters"),
        ([{"inputs": {"q": 1}}], {"dataset_ref": "d" * 501}, "dataset_ref must be at most 500"),
        ([{"inputs": {"q": 1}}], {"concurrency": 0}, "concurrency must be at least 1"),
    ],
)
async def test_bad_input_is_refused_before_anything_is_written(
    runtime: Runtime, records: list[Any], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        await aevaluate(lambda i: "x", records, ["json_valid"], runtime=runtime, **options)
    project = runtime.tenancy.ensure_project("default")
    assert EvaluationRepository(runtime.db).list(project.id) == []
