from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from llmloop.embedded.text_model import TextModel
from llmloop.errors import ValidationError
from llmloop.labeling import (
    apply_labeling_functions,
    heuristic_lf,
    keyword_lf,
    labeling_function,
    llm_lf,
    regex_lf,
    text_model_lf,
)
from llmloop.labeling.functions import parse_llm_vote, record_text
from llmloop.providers.registry import ProviderRegistry
from llmloop.records import Record
from llmloop.testing import ScriptedUpstream


def rec(text: str, **metadata: object) -> Record:
    return Record(inputs={"text": text}, metadata=metadata)


def test_decorator_names_the_function_and_votes() -> None:
    @labeling_function()
    def mentions_refund(record: Record) -> str | None:
        return "billing" if "refund" in record_text(record, "text") else None

    assert mentions_refund.name == "mentions_refund"
    assert mentions_refund.source == "lf:mentions_refund"
    assert mentions_refund(rec("I want a refund")) == "billing"
    assert mentions_refund(rec("hello")) is None
    renamed = labeling_function("refund_v2")(mentions_refund.fn)
    assert renamed.name == "refund_v2"


def test_keyword_lf_matches_whole_words_and_phrases_case_insensitively() -> None:
    lf = keyword_lf("spammy", ["free", "click here"], "spam")
    assert lf(rec("FREE money")) == "spam"
    assert lf(rec("please Click  here")) is None  # phrases match as written
    assert lf(rec("please click here now")) == "spam"
    assert lf(rec("freedom")) is None
    partial = keyword_lf("partial", ["free"], "spam", whole_words=False)
    assert partial(rec("freedom")) == "spam"
    strict = keyword_lf("strict", ["Free"], "spam", case_sensitive=True)
    assert strict(rec("free")) is None


def test_regex_and_heuristic_lfs_and_fields() -> None:
    reply = regex_lf("reply", r"^\s*re:", "ham", field="subject")
    assert reply(Record(inputs={"subject": "Re: hi"})) == "ham"
    assert reply(Record(inputs={"text": "Re: hi"})) is None  # other field
    by_tag = heuristic_lf("german", lambda r: r.slice("language") == "de", "other")
    assert by_tag(rec("x", language="de")) == "other"
    assert by_tag(rec("x", language="en")) is None
    on_meta = keyword_lf("meta", ["vip"], "priority", field="metadata.tier")
    assert on_meta(rec("x", tier="VIP")) == "priority"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: keyword_lf("k", [], "spam"), "at least one non-empty keyword"),
        (lambda: keyword_lf("k", ["a"], ""), "label must be a class name"),
        (lambda: regex_lf("r", "(unclosed", "spam"), "invalid pattern"),
        (lambda: heuristic_lf("h", "not callable", "spam"), "predicate must be callable"),  # type: ignore[arg-type]
        (lambda: keyword_lf("bad name", ["a"], "spam"), "must start with a letter"),
    ],
)
def test_bad_definitions_are_refused(build: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()  # type: ignore[operator]


@pytest.fixture(scope="module")
def text_model() -> TextModel:
    texts = ["refund my money", "charged twice refund", "app crashes on start", "bug in login"]
    return TextModel.train(texts * 5, ["billing", "billing", "bug", "bug"] * 5)


def test_text_model_lf_votes_above_threshold_only(text_model: TextModel) -> None:
    confident = text_model_lf("local", text_model, threshold=0.5)
    unsure = text_model_lf("local_strict", text_model, threshold=0.999)
    records = [rec("refund my money please"), rec("the app crashes")]
    assert [confident(r) for r in records] == ["billing", "bug"]
    assert [unsure(r) for r in records] == [None, None]
    renamed = text_model_lf("mapped", text_model, threshold=0.5, label_map={"bug": "defect"})
    assert [renamed(r) for r in records] == [None, "defect"]
    # batch application gives the same votes as one by one
    matrix = apply_labeling_functions([confident, renamed], records, ["billing", "bug", "defect"])
    assert matrix.values.tolist() == [[0, -1], [1, 2]]
    with pytest.raises(ValidationError, match="threshold must be within"):
        text_model_lf("x", text_model, threshold=1.5)


def test_parse_llm_vote() -> None:
    classes = ["spam", "ham"]
    assert parse_llm_vote('{"label": "Spam", "confidence": 0.9}', classes) == ("spam", 0.9)
    assert parse_llm_vote('Sure: {"label": "ham"}', classes) == ("ham", 1.0)
    assert parse_llm_vote("ham.", classes) == ("ham", 1.0)
    assert parse_llm_vote('{"label": null, "confidence": 1}', classes) == (None, 0.0)
    assert parse_llm_vote('{"label": "eggs", "confidence": 1}', classes) == (None, 0.0)
    assert parse_llm_vote("I cannot tell", classes) == (None, 0.0)
    assert parse_llm_vote('{"label": "spam", "confidence": "high"}', classes) == ("spam", 0.0)


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


def test_llm_lf_through_the_provider_registry(upstream: ScriptedUpstream) -> None:
    registry = ProviderRegistry(builtins=False)
    registry.register_endpoint("annotator", base_url=upstream.base_url)
    upstream.script(json.dumps({"label": "spam", "confidence": 0.95}), match="WIN")
    upstream.script(json.dumps({"label": "ham", "confidence": 0.3}), match="maybe")
    upstream.script(status=400, error={"message": "bad input"}, match="broken")
    lf = llm_lf(
        "gpt_judge",
        registry,
        "annotator/small-model",
        ["spam", "ham"],
        guidelines="Spam is unsolicited bulk mail.",
        threshold=0.5,
        temperature=0,
    )
    records = [rec("WIN a prize"), rec("maybe see you"), rec("broken request")]
    try:
        matrix = apply_labeling_functions([lf], records, ["spam", "ham"])
    finally:
        registry.close()
    assert matrix.values[:, 0].tolist() == [0, -1, -1]  # low confidence and errors abstain
    assert [f.record_id for f in matrix.failures] == [records[2].id]
    assert "ProviderError" in matrix.failures[0].error
    first = upstream.requests[0]
    assert first.body["model"] == "small-model"
    assert first.body["temperature"] == 0
    system = first.body["messages"][0]["content"]
    assert "Classes: spam, ham" in system and "unsolicited bulk mail" in system
