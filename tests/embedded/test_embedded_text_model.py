from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmloop.embedded import TextModel, TextModelConfig
from llmloop.errors import ConflictError, ValidationError


def test_accuracy_on_held_out_generated_tickets(trained: TextModel, examples) -> None:
    texts, labels = examples(200, seed=99)
    metrics = trained.evaluate(texts, labels)
    assert metrics["accuracy"] > 0.95
    assert metrics["macro_f1"] > 0.95
    assert metrics["n"] == 200


def test_probabilities_are_a_distribution_over_the_classes(trained: TextModel) -> None:
    proba = trained.predict_proba(["my parcel is late", "the app shows an error message"])
    assert proba.shape == (2, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert trained.classes == ("bug", "delivery", "login", "refund")


def test_predict_gives_the_most_likely_label_and_its_probability(trained: TextModel) -> None:
    prediction = trained.predict_one("where is my parcel? the courier never came")
    assert prediction.label == "delivery"
    assert prediction.probability == max(prediction.probabilities.values())
    assert prediction.probability > 0.5
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=80))
def test_any_text_gets_a_probability_distribution(text: str) -> None:
    prediction = _MODEL.predict_one(text)
    assert prediction.label in _MODEL.classes
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    assert all(0.0 <= p <= 1.0 for p in prediction.probabilities.values())


_MODEL = TextModel.train(
    ["refund my money", "money back please", "app crash", "error on screen"] * 3,
    ["refund", "refund", "bug", "bug"] * 3,
)


def test_fine_tune_learns_a_new_label_and_leaves_the_old_model_unchanged(
    trained: TextModel, examples
) -> None:
    probe = ["I want to cancel my subscription", "please refund me"]
    before = trained.predict_proba(probe)
    texts, labels = examples(
        40, seed=7, intents={"cancel": ["cancel my subscription", "stop my plan", "unsubscribe"]}
    )
    tuned = trained.fine_tune(texts, labels, templates={"cancel": "Sorry to see you go."})
    assert tuned is not trained
    assert "cancel" in tuned.classes and "cancel" not in trained.classes
    assert tuned.predict_one("I want to cancel my subscription").label == "cancel"
    assert tuned.predict_one("please refund me, money back").label == "refund"
    assert tuned.training_size == trained.training_size + 40
    assert set(tuned.templates) == {"refund", "cancel"}
    np.testing.assert_array_equal(trained.predict_proba(probe), before)


def test_a_fitted_model_refuses_a_second_fit(trained: TextModel) -> None:
    with pytest.raises(ConflictError, match="fine_tune"):
        trained.fit(["a", "b"], ["x", "y"])


def test_attributions_name_the_discriminative_words(trained: TextModel) -> None:
    attributions = trained.explain("hello please, my parcel has a tracking number", top=8)
    words = [a.feature for a in attributions if a.kind == "word"]
    assert {"parcel", "tracking"} & set(words[:3])
    assert all(a.contribution > 0 for a in attributions)
    assert attributions == sorted(attributions, key=lambda a: -a.contribution)
    first = attributions[0]
    assert first.contribution == pytest.approx(first.weight * first.value)
    assert "hello" not in words[:3]


def test_attributions_for_a_binary_model_point_both_ways() -> None:
    model = TextModel.train(
        ["refund money", "money back", "app crash", "screen error"] * 4,
        ["refund", "refund", "bug", "bug"] * 4,
    )
    assert model.explain("app crash with money")[0].feature in {"app", "crash", "app crash"}
    refund_side = model.explain("app crash with money", label="refund")
    assert refund_side[0].feature == "money"


def test_reply_renders_the_label_template(trained: TextModel) -> None:
    reply = trained.reply("I want a refund, money back please", {"name": "Ana"})
    assert reply.label == "refund" and reply.templated
    assert reply.text == "Hi Ana, your refund is on its way."


def test_reply_without_a_template_is_json(trained: TextModel) -> None:
    reply = trained.reply("the app freezes on a blank screen")
    assert not reply.templated
    assert json.loads(reply.text) == {"label": "bug", "probability": round(reply.probability, 4)}


def test_missing_template_variable_is_named(trained: TextModel) -> None:
    with pytest.raises(ValidationError, match="needs variable 'name'"):
        trained.reply("refund my money back please")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Hi {name.__class__}", "only plain names"),
        ("Hi {0}", "only plain names"),
        ("Hi {name", "not a valid format string"),
    ],
)
def test_unsafe_or_broken_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TextModel(templates={"refund": template})


@pytest.mark.parametrize(
    ("texts", "labels", "message"),
    [
        (["a", "b"], ["x"], "2 texts but 1 labels"),
        (["a", "b"], ["x", "x"], "at least 2 labels"),
        (["a", 3], ["x", "y"], "example #1"),
        ("ab", ["x", "y"], "not one string"),
    ],
)
def test_bad_training_data_is_refused(texts, labels, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TextModel().fit(texts, labels)


def test_unfitted_model_says_how_to_fit() -> None:
    with pytest.raises(ValidationError, match="not fitted"):
        TextModel().predict_one("hi")
    with pytest.raises(ValidationError, match="C=0"):
        TextModelConfig(C=0)
