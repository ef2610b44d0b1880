"""LLM judges through the real provider registry against a scripted upstream on loopback:
rubric, correctness, faithfulness and pairwise verdicts, repeated sampling, position bias,
unparsable answers, cost, and calibration against human labels (kappa as sklearn has it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from llmloop.errors import ValidationError
from llmloop.evaluation import aevaluate, load_scorer
from llmloop.evaluation.calibration import agreement, calibrate
from llmloop.evaluation.scorers import Sample, run_scorer
from llmloop.evaluation.scorers.judges import (
    CorrectnessJudge,
    FaithfulnessJudge,
    PairwiseJudge,
    RubricJudge,
)
from llmloop.evaluation.scorers.judges_verdict import (
    UnparsableVerdict,
    parse_score,
    parse_winner,
)
from llmloop.records import Record, Score
from llmloop.runtime import Runtime
from llmloop.testing import ScriptedUpstream

MODEL = "judge/grader-1"


@pytest.fixture
def upstream(runtime: Runtime) -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        runtime.providers.register_endpoint("judge", base_url=up.base_url)
        yield up


def verdict(score: float, why: str = "looks right") -> str:
    return json.dumps({"rationale": why, "score": score})


def winner(choice: str) -> str:
    return json.dumps({"rationale": "compared", "winner": choice})


def sample(runtime: Runtime, **fields: Any) -> Sample:
    return Sample(
        record_id=fields.pop("record_id", "rec_1"),
        inputs=fields.pop("inputs", {"question": "What is the capital of France?"}),
        outputs=fields.pop("outputs", {"text": "Paris"}),
        expectations=fields.pop("expectations", {"answer": "Paris"}),
        metadata={},
        providers=runtime.providers,
    )


def by_name(scores: list[Score]) -> dict[str, Score]:
    return {s.name: s for s in scores}


async def test_rubric_judge_scores_normalised_with_rationale_source_and_cost(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    runtime.providers.prices.set("judge/*", input=2.0, output=4.0)
    upstream.script(
        verdict(4, "clear and correct"), usage={"prompt_tokens": 100, "completion_tokens": 10}
    )
    judge = RubricJudge(
        model=MODEL, name="helpful", criteria="Helpfulness", steps=("Read it", "Rate it")
    )
    scores = by_name(await run_scorer(judge, sample(runtime)))
    assert set(scores) == {"helpful"}  # one sample: no agreement/variance scores
    main = scores["helpful"]
    assert main.value == pytest.approx(0.75)  # 4 on 1-5
    assert str(main.source) == f"judge:{MODEL}"
    assert main.rationale is not None and "clear and correct" in main.rationale
    assert main.cost_usd == pytest.approx((100 * 2.0 + 10 * 4.0) / 1e6)
    [request] = upstream.requests
    assert request.body["response_format"] == {"type": "json_object"}
    prompt = request.last_user_message
    assert "Criteria: Helpfulness" in prompt and "1. Read it\n2. Rate it" in prompt
    assert "[Input]\nWhat is the capital of France?" in prompt and "[Response]\nParis" in prompt


async def test_json_mode_off_sends_no_response_format(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    upstream.script("Rating: 1")
    judge = CorrectnessJudge(model=MODEL, json_mode=False)
    [score] = await run_scorer(judge, sample(runtime))
    assert score.value == 1.0
    assert "response_format" not in upstream.requests[0].body
    assert "[Reference]\nParis" in upstream.requests[0].last_user_message


async def test_flaky_judge_shows_agreement_below_one_and_variance(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    for value in (5, 5, 2):
        upstream.script(verdict(value))
    judge = RubricJudge(model=MODEL, criteria="Accuracy", samples=3, temperature=1.0)
    scores = by_name(await run_scorer(judge, sample(runtime)))
    normalised = [1.0, 1.0, 0.25]
    assert scores["judge_rubric"].value == pytest.approx(sum(normalised) / 3)
    assert scores["judge_rubric.agreement"].value == pytest.approx(2 / 3)
    mean = sum(normalised) / 3
    variance = sum((v - mean) ** 2 for v in normalised) / 3
    assert scores["judge_rubric.variance"].value == pytest.approx(variance)
    assert "agreement 0.67" in (scores["judge_rubric"].rationale or "")
    assert len(upstream.requests) == 3
    assert all(r.body["temperature"] == 1.0 for r in upstream.requests)


async def test_steady_judge_agreement_is_one(runtime: Runtime, upstream: ScriptedUpstream) -> None:
    upstream.script(verdict(1), times=4)
    judge = FaithfulnessJudge(model=MODEL, samples=4)
    scores = by_name(
        await run_scorer(judge, sample(runtime, inputs={"question": "q", "context": "c"}))
    )
    assert scores["judge_faithfulness.agreement"].value == 1.0
    assert scores["judge_faithfulness.variance"].value == 0.0


async def test_unparsable_output_gives_a_clear_error_score(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    upstream.script("I would rather not say.", times=2)
    judge = RubricJudge(model=MODEL, criteria="Tone", samples=2)
    [score] = await run_scorer(judge, sample(runtime))
    assert score.value == "unparsable" and score.numeric is None
    assert "unparsable in all 2 sample(s)" in (score.rationale or "")
    assert "I would rather not say." in (score.rationale or "")


async def test_partly_unparsable_samples_count_against_agreement(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    upstream.script(verdict(3))
    upstream.script(verdict(9))  # off the 1-5 scale: not a verdict
    scores = by_name(
        await run_scorer(RubricJudge(model=MODEL, criteria="x", samples=2), sample(runtime))
    )
    assert scores["judge_rubric"].value == pytest.approx(0.5)
    assert scores["judge_rubric.agreement"].value == pytest.approx(0.5)


async def test_faithfulness_context_field_is_configurable(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    upstream.script(verdict(0, "claims a population not in the context"))
    judge = FaithfulnessJudge(model=MODEL, context_section="metadata", context_field="docs")
    record = Sample(
        record_id="r",
        inputs={"question": "Tell me about Paris"},
        outputs={"text": "Paris has 40 million people."},
        expectations={},
        metadata={"docs": "Paris is the capital of France."},
        providers=runtime.providers,
    )
    [score] = await run_scorer(judge, record)
    assert score.value == 0.0
    assert "[Context]\nParis is the capital of France." in upstream.requests[0].last_user_message


async def test_pairwise_swaps_positions_and_catches_position_bias(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    upstream.script(winner("A"), times=2)  # always the first position, whatever it holds
    judge = PairwiseJudge(model=MODEL, name="pref")
    record = sample(runtime, outputs={"text": "new"}, expectations={"baseline": "old"})
    scores = by_name(await run_scorer(judge, record))
    assert scores["pref"].value == 0.5
    assert scores["pref.verdict"].value == "inconsistent"
    assert scores["pref.consistent"].value == 0.0
    assert "position bias" in (scores["pref"].rationale or "")
    prompts = [r.last_user_message for r in upstream.requests]
    assert len(prompts) == 2
    assert any("[Response A]\nnew" in p and "[Response B]\nold" in p for p in prompts)
    assert any("[Response A]\nold" in p and "[Response B]\nnew" in p for p in prompts)


async def test_pairwise_consistent_preference_is_a_win(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    upstream.script(winner("A"), match="[Response A]\nnew", times=None)
    upstream.script(winner("B"), match="[Response B]\nnew", times=None)
    judge = PairwiseJudge(model=MODEL, samples=2)
    record = sample(runtime, outputs={"text": "new"}, expectations={"baseline": "old"})
    scores = by_name(await run_scorer(judge, record))
    assert scores["judge_pairwise"].value == 1.0
    assert scores["judge_pairwise.verdict"].value == "win"
    assert scores["judge_pairwise.consistent"].value == 1.0
    assert scores["judge_pairwise.agreement"].value == 1.0
    assert len(upstream.requests) == 4


def test_parser_reads_fenced_json_prose_and_rejects_off_scale() -> None:
    assert parse_score('Sure!\n```json\n{"score": 4, "rationale": "ok"}\n```', "1-5") == (4.0, "ok")
    assert parse_score("Reasoning... Final score: 2", "1-5")[0] == 2.0
    assert parse_winner('{"winner": "[[B]]"}')[0] == "B"
    assert parse_winner("Winner: tie")[0] == "tie"
    with pytest.raises(UnparsableVerdict, match="outside the scale 0-1"):
        parse_score('{"score": 3}', "0-1")
    with pytest.raises(UnparsableVerdict, match="no winner"):
        parse_winner('{"winner": "C"}')


@given(
    st.integers(min_value=1, max_value=5),
    st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=40),
    st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=40),
)
def test_parser_finds_the_json_verdict_amid_any_prose(score: int, before: str, after: str) -> None:
    text = f"{before}{json.dumps({'rationale': 'r', 'score': score})}{after}"
    assert parse_score(text, "1-5") == (float(score), "r")


def test_bad_judge_settings_are_refused_naming_them() -> None:
    with pytest.raises(ValidationError, match="samples"):
        load_scorer(
            {"kind": "judge_rubric", "config": {"model": MODEL, "criteria": "x", "samples": 0}}
        )
    with pytest.raises(ValidationError, match="not of the form 'provider/name'"):
        load_scorer({"kind": "judge_pairwise", "config": {"model": "gpt4"}})
    with pytest.raises(ValidationError, match="criteria"):
        load_scorer({"kind": "judge_rubric", "config": {"model": MODEL}})
    spec = RubricJudge(model=MODEL, criteria="x", scale="0-1").spec()
    assert load_scorer(spec) == RubricJudge(model=MODEL, criteria="x", scale="0-1")


def test_agreement_matches_sklearn_kappa() -> None:
    judge = [1, 2, 3, 3, 5, 4, 4, 1, 2, 5]
    human = [1, 2, 3, 4, 5, 4, 3, 1, 1, 5]
    found = agreement(judge, human)
    assert found.kappa == pytest.approx(cohen_kappa_score(judge, human))
    assert found.accuracy == pytest.approx(0.7) and found.n == 10
    weighted = agreement(judge, human, weights="quadratic")
    assert weighted.kappa == pytest.approx(cohen_kappa_score(judge, human, weights="quadratic"))
    with pytest.raises(ValidationError, match="differ in length"):
        agreement([1], [1, 2])
    with pytest.raises(ValidationError, match="no records"):
        agreement([], [])


def test_calibrate_pairs_judge_and_human_scores_by_record() -> None:
    judge_labels = ["good", "bad", "good", "good", "bad", "bad"]
    human_labels = ["good", "bad", "bad", "good", "bad", "good"]
    judged = [
        Score(target_id=f"r{i}", name="quality", value=v, source=f"judge:{MODEL}")
        for i, v in enumerate(judge_labels)
    ]
    labelled = [
        Score(target_id=f"r{i}", name="quality", value=v, source="human:ann")
        for i, v in enumerate(human_labels)
    ]
    extra = Score(target_id="r99", name="quality", value="good", source="human:ann")  # no pair
    result = calibrate(judged, [*labelled, extra])
    assert result["quality"].n == 6
    assert result["quality"].kappa == pytest.approx(cohen_kappa_score(judge_labels, human_labels))
    assert result["quality"].accuracy == pytest.approx(4 / 6)


async def test_run_aggregates_report_kappa_against_human_labels(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    judge_raw = [5, 4, 2, 1, 3, 5, 2, 4]
    human_raw = [5, 4, 1, 1, 3, 4, 2, 4]
    records = []
    for i, (j, h) in enumerate(zip(judge_raw, human_raw, strict=True)):
        upstream.script(verdict(j), match=f"question number {i}?")
        records.append(
            Record(
                id=f"rec_{i}",
                inputs={"question": f"question number {i}?"},
                outputs={"text": f"answer {i}"},
                expectations={"human_labels": {"quality": h}},
            )
        )
    judge = RubricJudge(model=MODEL, name="quality", criteria="Quality")
    run = await aevaluate(None, records, [judge], runtime=runtime, resamples=50, concurrency=4)
    assert run.n_errors == 0
    kappa = run.aggregates["quality.kappa"]
    assert kappa.value == pytest.approx(cohen_kappa_score(judge_raw, human_raw))
    assert run.aggregates["quality.human_accuracy"].value == pytest.approx(6 / 8)
    assert kappa.low is not None and kappa.low <= kappa.value <= (kappa.high or 1.0)
    assert run.aggregates["quality"].value == pytest.approx(sum((j - 1) / 4 for j in judge_raw) / 8)


async def test_run_without_human_labels_has_no_kappa(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    upstream.script(verdict(1), times=None)
    records = [
        Record(
            id="r", inputs={"question": "q"}, outputs={"text": "a"}, expectations={"answer": "a"}
        )
    ]
    run = await aevaluate(
        None, records, [CorrectnessJudge(model=MODEL)], runtime=runtime, resamples=10
    )
    assert run.n_errors == 0
    assert run.aggregates["judge_correctness"].value == 1.0
    assert not any(name.endswith((".kappa", ".human_accuracy")) for name in run.aggregates)


async def test_missing_context_fails_before_any_judge_call(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    records = [Record(id="r", inputs={"question": "q"}, outputs={"text": "a"})]
    with pytest.raises(ValidationError, match=r"inputs\.context"):
        await aevaluate(None, records, [FaithfulnessJudge(model=MODEL)], runtime=runtime)
    assert upstream.requests == []


async def test_pairwise_run_reports_flakiness_and_kappa_on_verdicts(
    runtime: Runtime, upstream: ScriptedUpstream
) -> None:
    # rec_0: a steady win; rec_1: a steady loss; rec_2: flips between samples.
    upstream.script(winner("A"), match="[Response A]\nnew 0", times=None)
    upstream.script(winner("B"), match="[Response B]\nnew 0", times=None)
    upstream.script(winner("B"), match="[Response A]\nnew 1", times=None)
    upstream.script(winner("A"), match="[Response B]\nnew 1", times=None)
    upstream.script(winner("A"), match="[Response A]\nnew 2", times=2)
    upstream.script(winner("B"), match="[Response A]\nnew 2", times=1)
    upstream.script(winner("B"), match="[Response B]\nnew 2", times=None)
    human = ["win", "loss", "loss"]
    records = [
        Record(
            id=f"rec_{i}",
            inputs={"question": f"q{i}"},
            outputs={"text": f"new {i}"},
            expectations={"baseline": f"old {i}", "human_labels": {"pref": human[i]}},
        )
        for i in range(3)
    ]
    judge = PairwiseJudge(model=MODEL, name="pref", samples=3)
    run = await aevaluate(None, records, [judge], runtime=runtime, resamples=20, concurrency=1)
    assert run.n_errors == 0
    # rec_2: samples win, win, inconsistent (whatever the order the requests arrive in)
    assert run.aggregates["pref.agreement"].value == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert run.aggregates["pref.consistent"].value == pytest.approx((1 + 1 + 2 / 3) / 3)
    judged = ["win", "loss", "win"]
    assert run.aggregates["pref.kappa"].value == pytest.approx(cohen_kappa_score(judged, human))
    assert run.aggregates["pref.human_accuracy"].value == pytest.approx(2 / 3)


async def test_pairwise_split_vote_is_a_tie(runtime: Runtime, upstream: ScriptedUpstream) -> None:
    upstream.script(winner("A"), match="[Response A]\nnew", times=1)  # sample: win
    upstream.script(winner("B"), match="[Response A]\nnew", times=1)  # sample: loss
    upstream.script(winner("A"), match="[Response A]\nold", times=2)  # both: output loses as B
    judge = PairwiseJudge(model=MODEL, samples=2)
    record = sample(runtime, outputs={"text": "new"}, expectations={"baseline": "old"})
    scores = by_name(await run_scorer(judge, record))
    # forward (output as A): A -> win, B -> loss; backward (output as B): A -> loss
    assert sorted((scores["judge_pairwise"].rationale or "").split(": ")[1].split(", ")) == [
        "inconsistent",
        "loss",
    ]
    assert scores["judge_pairwise.verdict"].value == "tie"
    assert scores["judge_pairwise"].value == 0.5
