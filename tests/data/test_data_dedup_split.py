"""MinHash near-duplicates, exact duplicates, dedup, and stratified splits."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmloop.data.dedup import (
    MinHasher,
    bands_for,
    dedup,
    exact_duplicates,
    find_duplicates,
    near_duplicates,
    shingles,
)
from llmloop.data.splits import SplitSpec, split
from llmloop.errors import ValidationError
from llmloop.records import Record

WORDS = [
    "refund",
    "parcel",
    "order",
    "late",
    "broken",
    "invoice",
    "account",
    "password",
    "login",
    "delivery",
]


def sentence(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 99)) for _ in range(n))


def test_minhash_estimates_jaccard_within_tolerance() -> None:
    rng = random.Random(3)
    hasher = MinHasher(256, seed=7)
    for _ in range(20):
        a = sentence(rng)
        words = a.split()
        words[rng.randrange(len(words))] = "changed"
        b = " ".join(words)
        sa, sb = shingles(a), shingles(b)
        true = len(sa & sb) / len(sa | sb)
        estimate = float((hasher.signature(a) == hasher.signature(b)).mean())
        assert abs(estimate - true) < 0.12, (true, estimate)


def test_bands_put_the_s_curve_near_the_threshold() -> None:
    for threshold in (0.5, 0.7, 0.8, 0.9):
        bands, rows = bands_for(threshold, 128)
        assert bands * rows <= 128
        assert abs((1 / bands) ** (1 / rows) - threshold) < 0.06


def test_near_duplicates_are_grouped_and_distinct_texts_are_not() -> None:
    rng = random.Random(11)
    base = [sentence(rng) for _ in range(40)]
    records = [Record(id=f"r{i}", inputs={"text": t}) for i, t in enumerate(base)]
    # three edited copies of r5 and one of r9, each differing by punctuation/case/one word
    records += [
        Record(id="c1", inputs={"text": base[5].upper() + "!"}),
        Record(id="c2", inputs={"text": base[5] + " thanks"}),
        Record(id="c3", inputs={"text": "  " + base[5].replace(" ", "  ")}),
        Record(id="c4", inputs={"text": base[9] + "."}),
    ]
    groups = near_duplicates(records, threshold=0.8)
    as_sets = sorted(sorted(g.record_ids) for g in groups)
    assert as_sets == [["c1", "c2", "c3", "r5"], ["c4", "r9"]]
    assert all(g.record_ids[0] in ("r5", "r9") for g in groups)
    assert all(0.8 <= g.similarity <= 1 for g in groups)


def test_exact_duplicates_compare_whole_content() -> None:
    records = [
        Record(id="a", inputs={"q": "x"}, expectations={"y": 1}),
        Record(id="b", inputs={"q": "x"}, expectations={"y": 1}),
        Record(id="c", inputs={"q": "x"}, expectations={"y": 2}),
    ]
    (group,) = exact_duplicates(records)
    assert group.record_ids == ["a", "b"] and group.kind == "exact"
    groups = find_duplicates(records, threshold=0.9)
    kept = dedup(records, groups)
    assert [r.id for r in kept] == ["a"]  # c is a near duplicate (same inputs) of a


def test_near_duplicates_reject_a_bad_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        near_duplicates([Record(inputs={"q": "x"})], threshold=0)


def labelled(n_en: int, n_fr: int) -> list[Record]:
    return [
        Record(id=f"{lang}{i}", inputs={"q": f"{lang} {i}"}, metadata={"lang": lang})
        for lang, n in (("en", n_en), ("fr", n_fr))
        for i in range(n)
    ]


def test_split_is_stratified_exact_and_deterministic() -> None:
    records = labelled(80, 20)
    spec = SplitSpec(stratify="lang", seed=4)
    result = split(records, spec)
    assert {k: len(v) for k, v in result.parts.items()} == {"train": 80, "dev": 10, "test": 10}
    assert result.strata["train"] == {"en": 64, "fr": 16}
    assert result.strata["dev"] == {"en": 8, "fr": 2}
    assert split(records, spec) == result
    other = split(records, SplitSpec(stratify="lang", seed=5))
    assert other.parts != result.parts


def test_split_by_expectation_and_errors() -> None:
    records = [
        Record(id=f"r{i}", inputs={"q": i}, expectations={"label": i % 2}) for i in range(10)
    ]
    result = split(
        records, SplitSpec(stratify="expectations.label", fractions={"a": 0.5, "b": 0.5})
    )
    assert {name: len(ids) for name, ids in result.parts.items()} == {"a": 5, "b": 5}
    for counts in result.strata.values():  # 5 of each label over two halves of 5
        assert sorted(counts.values()) == [2, 3]
    assert result.strata["a"]["0"] + result.strata["b"]["0"] == 5
    with pytest.raises(ValidationError, match="no record has the field 'topic'"):
        split(records, SplitSpec(stratify="topic"))
    with pytest.raises(ValueError, match="sum to 1"):
        SplitSpec(fractions={"train": 0.5, "test": 0.4})


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.sampled_from("abc"), min_size=0, max_size=60),
    st.integers(0, 1000),
    st.sampled_from([(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (1.0, 0.0, 0.0), (0.34, 0.33, 0.33)]),
)
def test_split_is_a_partition_with_exact_sizes(
    strata: list[str], seed: int, shares: tuple[float, float, float]
) -> None:
    records = [Record(id=f"r{i}", inputs={"i": i}, metadata={"s": s}) for i, s in enumerate(strata)]
    fractions = dict(zip(("train", "dev", "test"), shares, strict=True))
    result = split(
        records, SplitSpec(stratify="s" if records else None, fractions=fractions, seed=seed)
    )
    ids = [rid for part in result.parts.values() for rid in part]
    assert sorted(ids) == sorted(r.id for r in records)
    for name, share in fractions.items():
        assert abs(len(result.parts[name]) - share * len(records)) < 1
    # each stratum is spread in proportion: within one record per part of its exact share
    counts = Counter(strata)
    for name, share in fractions.items():
        for value, total in counts.items():
            got = result.strata.get(name, {}).get(value, 0)
            assert abs(got - share * total) <= 1.5, (name, value, got, total)
