"""Built-in scorers: values, stored specs, invalid settings, and ROUGE-L/F1 properties."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import f1_score, precision_score, recall_score

from llmloop.errors import ValidationError
from llmloop.evaluation.scorers import (
    Classification,
    Contains,
    ExactMatch,
    JsonSchema,
    Row,
    Sample,
    load_scorer,
    run_aggregate,
    run_scorer,
)
from llmloop.evaluation.scorers.text import rouge_l_score, token_f1_score


def sample(outputs: dict[str, Any], expectations: dict[str, Any] | None = None) -> Sample:
    return Sample("rec_1", {}, outputs, expectations or {}, {}, latency_ms=12.5)


def values(
    spec: Any, outputs: dict[str, Any], expectations: dict[str, Any] | None = None
) -> dict[str, Any]:
    scores = asyncio.run(run_scorer(load_scorer(spec), sample(outputs, expectations)))
    assert all(s.target_id == "rec_1" and str(s.source) == "metric" for s in scores)
    return {s.name: s.value for s in scores}


@pytest.mark.parametrize(
    ("spec", "outputs", "expectations", "expected"),
    [
        ("exact_match", {"text": " Paris "}, {"answer": "Paris"}, {"exact_match": True}),
        ("exact_match", {"text": "paris"}, {"answer": "Paris"}, {"exact_match": False}),
        (
            "normalized_match",
            {"text": "The  Paris!"},
            {"answer": "paris"},
            {"normalized_match": True},
        ),
        ("normalized_match", {"text": "Pàris"}, {"answer": "paris"}, {"normalized_match": True}),
        (
            {"kind": "contains", "config": {"substring": "REFUND"}},
            {"text": "a refund"},
            None,
            {"contains": True},
        ),
        (
            {"kind": "contains", "config": {"expected_field": "answer"}},
            {"text": "x"},
            {"answer": "y"},
            {"contains": False},
        ),
        (
            {"kind": "regex", "config": {"pattern": r"^\d{3}$"}},
            {"text": "123"},
            None,
            {"regex": True},
        ),
        (
            {"kind": "regex", "config": {"pattern": r"\d{3}", "full_match": True}},
            {"text": "1234"},
            None,
            {"regex": False},
        ),
        ("json_valid", {"text": '{"a": 1}'}, None, {"json_valid": True}),
        ("json_valid", {"text": "{'a': 1}"}, None, {"json_valid": False}),
        (
            "token_f1",
            {"text": "the cat sat"},
            {"answer": "cat sat down"},
            {"token_f1": pytest.approx(0.8)},
        ),
        (
            "rouge_l",
            {"text": "a b c d"},
            {"answer": "a c d"},
            {"rouge_l": pytest.approx(2 * 0.75 * 1 / 1.75)},
        ),
        ("refusal", {"text": "I'm sorry, but I can't help with that."}, None, {"refusal": True}),
        ("refusal", {"text": "Lo siento, no puedo ayudar con eso."}, None, {"refusal": True}),
        ("refusal", {"text": "Your refund was issued."}, None, {"refusal": False}),
        ("classification", {"label": "billing"}, {"label": "billing"}, {"correct": True}),
        ("efficiency", {}, None, {"latency_ms": 12.5}),
    ],
)
def test_builtin_scorer_values(
    spec: Any, outputs: dict[str, Any], expectations: Any, expected: dict[str, Any]
) -> None:
    assert values(spec, outputs, expectations) == expected


def test_json_schema_conformance_names_the_failing_path() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    config = JsonSchema(json_schema=schema)
    ok = asyncio.run(run_scorer(config, sample({"text": '{"n": 3}'})))
    bad = asyncio.run(run_scorer(config, sample({"text": '{"n": "three"}'})))
    assert ok[0].value is True and ok[0].rationale is None
    assert bad[0].value is False and "n: 'three' is not of type 'integer'" in (
        bad[0].rationale or ""
    )


def test_stored_spec_round_trips_to_the_same_config() -> None:
    config = ExactMatch(expected_field="label", name="label_exact", strip=False)
    spec = config.spec()
    assert spec == {
        "kind": "exact_match",
        "config": {"expected_field": "label", "name": "label_exact", "strip": False},
    }
    assert load_scorer(spec) == config
    assert load_scorer(spec).scorer_version == "exact_match@1"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_scorer", "unknown scorer 'no_such_scorer'; known scorers: classification"),
        (
            {"kind": "regex", "config": {"pattern": "("}},
            "invalid settings for scorer 'regex': pattern",
        ),
        (
            {"kind": "contains", "config": {}},
            "give exactly one of 'substring' and 'expected_field'",
        ),
        (
            {"kind": "json_schema", "config": {"json_schema": {"type": "nope"}}},
            "not a valid JSON schema",
        ),
        ({"kind": "exact_match", "config": {"bogus": 1}}, "bogus: Extra inputs are not permitted"),
        ({"config": {}}, "needs a 'kind'"),
    ],
)
def test_invalid_scorer_settings_are_named(spec: Any, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        load_scorer(spec)
    assert message in info.value.message


def test_contains_with_both_needles_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Contains(substring="a", expected_field="b")


def test_classification_aggregate_matches_sklearn() -> None:
    expected = ["a", "b", "c", "a", "b", "a", "c", "c"]
    predicted = ["a", "b", "a", "a", "c", "b", "c", "c"]
    rows = [Row({"label": p}, {"label": e}, {}) for p, e in zip(predicted, expected, strict=True)]
    metrics = run_aggregate(Classification(), rows)
    assert metrics is not None
    got = metrics.values
    assert got["accuracy"] == pytest.approx(5 / 8)
    assert got["f1"] == pytest.approx(f1_score(expected, predicted, average="macro"))
    assert got["precision"] == pytest.approx(precision_score(expected, predicted, average="macro"))
    assert got["recall"] == pytest.approx(recall_score(expected, predicted, average="macro"))
    assert got["micro_f1"] == pytest.approx(f1_score(expected, predicted, average="micro"))
    assert got["f1[c]"] == pytest.approx(
        f1_score(expected, predicted, labels=["c"], average=None)[0]
    )
    matrix = metrics.details["confusion_matrix"]
    assert matrix == {"classes": ["a", "b", "c"], "matrix": [[2, 1, 0], [0, 1, 1], [1, 0, 2]]}


words = st.lists(st.sampled_from(["alpha", "beta", "gamma", "délta", "über", "x"]), max_size=12)


@given(words, words)
def test_rouge_l_and_token_f1_are_bounded_and_symmetric(a: list[str], b: list[str]) -> None:
    x, y = " ".join(a), " ".join(b)
    for fn in (rouge_l_score, token_f1_score):
        value = fn(x, y)
        assert 0.0 <= value <= 1.0
        assert value == pytest.approx(fn(y, x))


@given(words.filter(bool))
def test_rouge_l_is_one_on_identical_text_and_counts_non_ascii(a: list[str]) -> None:
    text = " ".join(a)
    assert rouge_l_score(text, text) == pytest.approx(1.0)
    assert token_f1_score(text, text) == pytest.approx(1.0)


@given(words, words)
def test_rouge_l_matches_a_reference_lcs(a: list[str], b: list[str]) -> None:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, wa in enumerate(a):
        for j, wb in enumerate(b):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if wa == wb else max(table[i][j + 1], table[i + 1][j])
            )
    lcs = table[-1][-1]
    expected = (
        0.0 if lcs == 0 else 2 * (lcs / len(a)) * (lcs / len(b)) / (lcs / len(a) + lcs / len(b))
    )
    assert rouge_l_score(" ".join(a), " ".join(b)) == pytest.approx(expected)
