"""The synthetic ticket generator: deterministic, complete, distributed as its mix says."""

from __future__ import annotations

import itertools
import string
from collections import Counter

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmloop.demo.phrases import INTENTS, PACKS, PRODUCTS
from llmloop.demo.tickets import (
    BASE_MIX,
    SHIFTED_MIX,
    TicketMix,
    distribution,
    generate_shifted,
    generate_tickets,
    model_text,
    reply_templates,
)
from llmloop.errors import ValidationError
from llmloop.records import Record

SLOTS = {
    "product", "topic", "brand", "symptom", "Symptom", "feature", "Feature", "order",
    "amount", "date", "device", "days", "years", "code", "name",
}  # fmt: skip


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def _assert_valid(record: Record) -> None:
    assert Record.model_validate(record.model_dump()) == record
    assert record.expectations is not None
    intent = record.expectations["intent"]
    language = record.metadata["language"]
    assert intent in INTENTS
    assert record.metadata["intent"] == intent
    assert record.expectations["reply"] == PACKS[language].replies[intent]
    assert record.metadata["product"] in PRODUCTS
    assert record.metadata["difficulty"] in {"clear", "ambiguous", "mixed"}
    assert record.metadata["user_group"] in {"free", "standard", "premium", "business"}
    assert record.metadata["channel"] in {"email", "web_form", "chat", "app"}
    assert record.inputs["ticket"].strip() and record.inputs["subject"].strip()
    # every slot was filled: no template braces survive into the text
    assert "{" not in record.inputs["ticket"] and "}" not in record.inputs["ticket"]
    assert "{" not in record.inputs["subject"]
    assert record.source.kind == "generated"


def test_every_pack_covers_every_intent_and_product() -> None:
    assert set(PACKS) == {"en", "es", "de", "fr", "pt"}
    for pack in PACKS.values():
        assert pack.missing() == [], pack.code


def test_templates_only_use_known_slots() -> None:
    for pack in PACKS.values():
        templates = [t for ts in pack.bodies.values() for t in ts]
        templates += [t for ts in pack.subjects.values() for t in ts]
        templates += [t for _, t in pack.ambiguous] + list(pack.fillers) + list(pack.signoffs)
        templates += list(pack.generic_subjects) + list(pack.app_footer)
        for template in templates:
            assert _fields(template) <= SLOTS, (pack.code, template)
        for reply in pack.replies.values():
            assert _fields(reply) == set(), (pack.code, reply)
        assert {i for i, _ in pack.ambiguous} <= set(INTENTS)


def test_same_seed_same_tickets_other_seed_other_tickets() -> None:
    first = generate_tickets(300, seed=11)
    again = generate_tickets(300, seed=11)
    other = generate_tickets(300, seed=12)
    assert first == again  # ids and timestamps included
    assert [r.content_hash() for r in first] != [r.content_hash() for r in other]
    assert len({r.id for r in first}) == 300
    assert all(a.created_at < b.created_at for a, b in itertools.pairwise(first))


def test_base_distribution_follows_the_mix() -> None:
    tickets = generate_tickets(5000, seed=7)
    for key, weights in (
        ("intent", BASE_MIX.intents),
        ("language", BASE_MIX.languages),
        ("product", BASE_MIX.products),
    ):
        counts = distribution(tickets, key)
        assert set(counts) == set(weights), key
        total = sum(weights.values())
        for value, weight in weights.items():
            assert abs(counts[value] / 5000 - weight / total) < 0.025, (key, value)
    difficulty = distribution(tickets, "difficulty")
    assert 0.05 < difficulty["ambiguous"] / 5000 < 0.11
    assert 0.06 < difficulty["mixed"] / 5000 < 0.12
    # short slot-free tickets ("How do I cancel my plan?") repeat, as they do in real queues
    assert len({r.inputs["ticket"] for r in tickets}) > 4700


def test_shifted_batch_brings_a_new_language_and_product_line() -> None:
    base = generate_tickets(2000, seed=7)
    shifted = generate_shifted(2000, seed=7)
    base_languages, shifted_languages = (
        distribution(base, "language"),
        distribution(shifted, "language"),
    )
    base_products, shifted_products = (
        distribution(base, "product"),
        distribution(shifted, "product"),
    )
    assert "pt" not in base_languages and shifted_languages["pt"] > 700
    assert "ride" not in base_products and shifted_products["ride"] > 900
    base_intents, shifted_intents = (
        Counter(distribution(base, "intent")),
        distribution(shifted, "intent"),
    )
    assert shifted_intents["technical"] / 2000 > base_intents["technical"] / 2000 + 0.04
    assert {r.metadata["batch"] for r in shifted} == {"shifted"}
    assert not {r.id for r in base} & {r.id for r in shifted}
    assert min(r.created_at for r in shifted) > max(r.created_at for r in base[:100])


def test_portuguese_tickets_are_written_in_portuguese() -> None:
    pt = [r for r in generate_shifted(400, seed=3) if r.metadata["language"] == "pt"]
    text = " ".join(r.inputs["ticket"] for r in pt).lower()
    for word in ("não", "pedido", "meu"):
        assert word in text


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**31), n=st.integers(min_value=0, max_value=60))
def test_every_generated_record_is_valid(seed: int, n: int) -> None:
    for mix in (BASE_MIX, SHIFTED_MIX):
        records = generate_tickets(n, seed=seed, mix=mix)
        assert len(records) == n
        for record in records:
            _assert_valid(record)
            assert model_text(record).endswith(record.inputs["ticket"])


def test_a_mix_with_an_unknown_language_is_refused_by_name() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"languages has unknown keys \['it'\]"):
        TicketMix.model_validate({**BASE_MIX.model_dump(), "languages": {"en": 1.0, "it": 1.0}})
    with pytest.raises(pydantic.ValidationError, match="at least one positive weight"):
        TicketMix.model_validate({**BASE_MIX.model_dump(), "products": {"hub": 0.0}})


def test_negative_count_and_unknown_reply_language_are_refused() -> None:
    with pytest.raises(ValidationError, match="n=-1"):
        generate_tickets(-1)
    with pytest.raises(ValidationError, match="'it'"):
        reply_templates("it")
    assert set(reply_templates("de")) == set(INTENTS)
