"""Agreement statistics against published values, and their invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmloop.annotation import LabelSchema, agreement, cohen_kappa, krippendorff_alpha
from llmloop.errors import ValidationError

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units
NAN = None
CODERS = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    "C": [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
}


def _answers() -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for coder, values in CODERS.items():
        for unit, value in enumerate(values):
            if value is not None:
                out.setdefault(f"u{unit}", {})[coder] = value
    return out


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_krippendorff_alpha_matches_the_published_example(level: str, expected: float) -> None:
    assert krippendorff_alpha(_answers(), level) == pytest.approx(expected, abs=1e-3)  # type: ignore[arg-type]


def test_cohen_kappa_textbook_example() -> None:
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> kappa 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)  # type: ignore[arg-type]


def test_undefined_statistics_are_none_with_a_note() -> None:
    report = agreement({"i1": {"a": "x", "b": "x"}, "i2": {"a": "x", "b": "x"}})
    assert report.percent_agreement == 1.0
    assert report.alpha is None and report.pairs[0].kappa is None
    assert "no variation" in report.notes[0]
    empty = agreement({"i1": {"a": "x"}})
    assert empty.items_compared == 0 and empty.percent_agreement is None
    assert empty.notes == ["no item has answers from two annotators yet"]


def test_report_per_pair_and_per_annotator() -> None:
    answers = {
        "i1": {"a": "x", "b": "x", "c": "y"},
        "i2": {"a": "y", "b": "y"},
        "i3": {"a": "x", "c": "x"},
    }
    report = agreement(answers, finals={"i1": "x", "i2": "y"})
    assert report.items_compared == 3
    assert report.percent_agreement == pytest.approx(2 / 3, abs=1e-4)
    assert report.pairwise_agreement == pytest.approx(3 / 5)
    pairs = {(p.a, p.b): p for p in report.pairs}
    assert pairs[("a", "b")].items == 2 and pairs[("a", "b")].percent == 1.0
    assert pairs[("a", "b")].kappa == 1.0
    stats = {s.annotator: s for s in report.annotators}
    assert stats["c"].agreement_with_others == pytest.approx(0.3333, abs=1e-4)
    assert stats["c"].agreement_with_final == 0.0 and stats["a"].agreement_with_final == 1.0


answer_sets = st.dictionaries(
    st.sampled_from([f"i{n}" for n in range(12)]),
    st.dictionaries(st.sampled_from(["ann", "bo", "cy"]), st.integers(1, 4), min_size=1),
    min_size=1,
)


@settings(max_examples=80, deadline=None)
@given(answer_sets)
def test_figures_stay_in_range(answers: dict[str, dict[str, int]]) -> None:
    for level in ("nominal", "ordinal", "interval"):
        report = agreement(answers, level)  # type: ignore[arg-type]
        for value in (report.percent_agreement, report.pairwise_agreement):
            assert value is None or 0.0 <= value <= 1.0
        assert report.alpha is None or (report.alpha <= 1.0 and not math.isnan(report.alpha))
        assert all(p.kappa is None or -1.0 <= p.kappa <= 1.0 for p in report.pairs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=2, max_size=15))
def test_perfect_agreement_is_one(values: list[int]) -> None:
    answers = {f"i{n}": {"a": v, "b": v, "c": v} for n, v in enumerate(values)}
    report = agreement(answers, "nominal")
    assert report.percent_agreement == 1.0 and report.pairwise_agreement == 1.0
    if len(set(values)) > 1:
        assert report.alpha == 1.0 and all(p.kappa == 1.0 for p in report.pairs)
    else:
        assert report.alpha is None


def test_label_schema_validation() -> None:
    with pytest.raises(ValueError, match="at least 2 classes"):
        LabelSchema(kind="classes", classes=["a"])
    with pytest.raises(ValueError, match="multi applies"):
        LabelSchema(kind="rating", multi=True)
    rating = LabelSchema(kind="rating", scale=4)
    assert rating.normalize("3") == 3 and rating.level == "ordinal"
    with pytest.raises(ValidationError, match=r"outside 1\.\.4"):
        rating.normalize(5)
    with pytest.raises(ValidationError, match="whole number"):
        rating.normalize(True)
    text = LabelSchema(kind="correction")
    assert text.field == "output" and text.normalize("  fixed  ") == "fixed"
    with pytest.raises(ValidationError, match="non-empty"):
        text.normalize("  ")
