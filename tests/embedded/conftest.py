"""Small synthetic data for the embedded-model tests, generated here from a seed."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from llmloop.embedded import HashedEmbedder, TextModel

# Each intent has its own words; the filler is shared, so only the keywords separate them.
INTENT_WORDS = {
    "refund": ["refund", "money back", "reimburse", "return my payment"],
    "delivery": ["package", "parcel", "courier", "tracking number", "shipment"],
    "login": ["password", "log in", "locked out", "two-factor code"],
    "bug": ["crash", "error message", "freezes", "blank screen"],
}
FILLER = [
    "hello",
    "please",
    "I need help",
    "today",
    "thanks",
    "with my account",
    "as soon as possible",
    "again",
    "for the second time",
    "hi team",
]


def make_examples(
    n: int, *, seed: int = 0, intents: dict[str, list[str]] | None = None
) -> tuple[list[str], list[str]]:
    """``n`` ticket-like texts, cycling through the intents, and their labels."""
    rng = random.Random(seed)
    table = intents or INTENT_WORDS
    labels = [list(table)[i % len(table)] for i in range(n)]
    texts = []
    for label in labels:
        parts = [rng.choice(table[label]), *rng.sample(FILLER, 3)]
        rng.shuffle(parts)
        texts.append(" ".join(parts) + f" order {rng.randint(1000, 9999)}")
    return texts, labels


@pytest.fixture(scope="session")
def examples() -> Callable[..., tuple[list[str], list[str]]]:
    return make_examples


@pytest.fixture(scope="session")
def trained() -> TextModel:
    """A model fitted on 400 generated tickets of 4 intents."""
    texts, labels = make_examples(400, seed=1)
    return TextModel.train(
        texts, labels, templates={"refund": "Hi {name}, your refund is on its way."}
    )


@pytest.fixture(scope="session")
def hashed() -> HashedEmbedder:
    return HashedEmbedder()
