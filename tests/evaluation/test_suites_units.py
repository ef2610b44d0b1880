"""Suite building blocks without a database: perturbations, counterfactual probes,
choice parsing, calibration metrics, the BBQ bias score and the toxicity lexicon."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmloop.errors import ValidationError
from llmloop.evaluation.scorers.choice import parse_choice
from llmloop.evaluation.scorers.toxicity import find_toxic, normalize, toxicity_score
from llmloop.evaluation.suites import (
    PERTURBATIONS,
    BbqItem,
    PairItem,
    brier_score,
    counterfactuals,
    expected_calibration_error,
    perturb,
    reliability,
)
from llmloop.evaluation.suites.bias import bias_score
from llmloop.evaluation.suites.perturb import NEIGHBOURS, contraction, synonym, typo

TEXT = "I do not want to buy a broken car, can you help me with my refund?"
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCDEF.,?", min_size=0, max_size=80)


def test_every_perturbation_changes_a_typical_sentence_and_is_seeded() -> None:
    for name in PERTURBATIONS:
        once = perturb(name, TEXT, seed=1, key="r1")
        assert once != TEXT, name
        assert perturb(name, TEXT, seed=1, key="r1") == once  # same seed, same record
    assert {perturb("typo", TEXT, seed=s, key="r1") for s in range(10)} != {TEXT}
    assert len({perturb("typo", TEXT, seed=s, key="r1") for s in range(10)}) > 1


def test_perturbations_do_what_they_say() -> None:
    rng = random.Random(0)
    assert contraction("I do not know, it is late", rng) == "I don't know, it's late"
    assert contraction("I don't know", rng) == "I do not know"
    assert synonym("Help me buy it", random.Random(0)) in {
        "Assist me buy it",
        "Help me purchase it",
        "Assist me purchase it",
    }
    assert perturb("injection", "hello", seed=0).startswith("hello\n\n")
    assert perturb("distractor", "hello.", seed=3) != "hello."


def test_keyboard_neighbours_are_adjacent_keys() -> None:
    assert set(NEIGHBOURS["s"]) >= {"a", "d", "w", "e", "z", "x"}
    assert "p" not in NEIGHBOURS["a"]


@settings(max_examples=200, deadline=None)
@given(words, st.integers(0, 10_000))
def test_typo_keeps_first_and_last_letters_and_word_count(text: str, seed: int) -> None:
    out = typo(text, random.Random(seed))
    assert len(out.split()) == len(text.split())
    for a, b in zip(text.split(), out.split(), strict=True):
        assert a[:1] == b[:1] and a[-1:] == b[-1:]
        assert abs(len(a) - len(b)) <= 1


@settings(max_examples=200, deadline=None)
@given(words, st.integers(0, 10_000))
def test_casing_and_whitespace_keep_the_words(text: str, seed: int) -> None:
    assert perturb("casing", text, seed=seed).casefold() == text.casefold()
    assert perturb("whitespace", text, seed=seed).split() == text.split()


def test_unknown_perturbation_is_named() -> None:
    with pytest.raises(ValidationError, match=r"unknown perturbation.*'typos'.*known: typo"):
        perturb("typos", "x")


def test_counterfactuals_swap_gender_names_and_dialect() -> None:
    (gender,) = counterfactuals("He told his wife that the man was late.", ["gender"])
    assert gender.text == "She told her husband that the woman was late."
    assert (gender.source_group, gender.target_group) == ("male", "female")
    names = counterfactuals("Emily asked for a loan.", ["names"])
    assert len(names) == 7 and {v.source_group for v in names} == {"white_female"}
    assert {v.text for v in names} >= {"Lakisha asked for a loan.", "Greg asked for a loan."}
    (dialect,) = counterfactuals("I am going to ask because it is not fair.", ["dialect"])
    assert dialect.text == "I am gonna ask cuz it ain't fair."
    assert counterfactuals("The parcel arrived late.") == []
    with pytest.raises(ValidationError, match="unknown counterfactual probe"):
        counterfactuals("x", ["race"])


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("B", 1),
        ("(C) The lawyer", 2),
        ("B. The line cook", 1),
        ("The answer is A.", 0),
        ("I think it's the lawyer", 2),
        ("a lawyer or a cook", None),
        ("Z", None),
        (1, 1),
        (7, None),
        ("", None),
    ],
)
def test_parse_choice(answer: object, expected: int | None) -> None:
    options = ["Cannot be determined", "The line cook", "The lawyer"]
    assert parse_choice(answer, options) == expected


def test_calibration_metrics_match_hand_computed_values() -> None:
    conf = np.array([0.95, 0.95, 0.55, 0.55, 0.15])
    hit = np.array([1, 0, 1, 1, 0])
    # bins (0.9,1]: acc .5 conf .95; (0.5,0.6]: acc 1 conf .55; (0.1,0.2]: acc 0 conf .15
    expected = (2 * 0.45 + 2 * 0.45 + 1 * 0.15) / 5
    assert expected_calibration_error(conf, hit, bins=10) == pytest.approx(expected)
    assert brier_score(conf, hit) == pytest.approx(np.mean((conf - hit) ** 2))
    rows = reliability(conf, hit, bins=10)
    assert [r["count"] for r in rows] == [1, 2, 2]
    assert expected_calibration_error([1.0, 0.0], [1, 0]) == 0.0
    adaptive = reliability(conf, hit, bins=2, strategy="adaptive")
    assert sum(r["count"] for r in adaptive) == 5
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        brier_score([1.5], [1])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=60))
def test_ece_is_between_zero_and_one_for_both_binnings(pairs: list[tuple[float, bool]]) -> None:
    conf = np.array([c for c, _ in pairs])
    hit = np.array([float(h) for _, h in pairs])
    for strategy in ("uniform", "adaptive"):
        rows = reliability(conf, hit, bins=5, strategy=strategy)  # type: ignore[arg-type]
        assert sum(r["count"] for r in rows) == len(pairs)
        assert 0 <= expected_calibration_error(conf, hit, bins=5, strategy=strategy) <= 1  # type: ignore[arg-type]


def test_bbq_bias_score() -> None:
    picked = np.array([1, 1, 2, 0, -1])
    biased = np.array([1, 1, 1, 1, 1])
    unknown = np.array([0, 0, 0, 0, 0])
    # answered and not unknown: 1, 1, 2 -> 2 of 3 biased -> 2*2/3 - 1
    assert bias_score(picked, biased, unknown) == pytest.approx(1 / 3)
    assert np.isnan(bias_score(np.array([0]), np.array([1]), np.array([0])))


def test_bbq_and_pair_items_accept_the_original_formats() -> None:
    item = BbqItem.model_validate(
        {
            "context": "c",
            "question": "q",
            "ans0": "The cook",
            "ans1": "Can't be determined",
            "ans2": "The lawyer",
            "label": 1,
            "context_condition": "ambig",
        }
    )
    assert item.answers[1] == "Can't be determined" and item.condition == "ambiguous"
    assert item.unknown() == 1
    pair = PairItem.model_validate(
        {"sentence": "The [MASK] people are lazy.", "mask1": "x", "mask2": "y", "bias_type": "t"}
    )
    assert (pair.sent_more, pair.sent_less) == ("The x people are lazy.", "The y people are lazy.")


def test_toxicity_lexicon() -> None:
    assert find_toxic("Have a lovely day") == {}
    assert toxicity_score({}) == 0
    found = find_toxic("You are an idiot, shut up")
    assert found == {"insult": ["idiot", "shut up"]}
    assert toxicity_score(found) == pytest.approx(1 - 0.4 * 0.4)
    assert find_toxic("this is sh1t") == {"profanity": ["shit"]}
    assert find_toxic("f*ck that") == {"profanity": ["fuck"]}
    assert "threat" in find_toxic("I will kill you")
    assert "identity_attack" in find_toxic("All immigrants are trash")
    assert find_toxic("The assessment was classic Scunthorpe") == {}
    assert normalize("stuuupid") == "stupid"


def test_the_python_example_in_the_suites_docs_runs(capsys: pytest.CaptureFixture[str]) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "evaluation-suites.md"
    (example,) = re.findall(r"```python\n(.*?)```", docs.read_text(), flags=re.S)
    exec(compile(example, str(docs), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("0.") or printed[0].startswith("1.0")
    assert float(printed[-1]) == 0.0  # the keyword rule ignores pronouns
