from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmloop.embedded import HashedEmbedder, HashedEmbedderConfig, cosine
from llmloop.errors import ValidationError

SIMILAR = ("I want a refund for my broken order", "please refund my broken order")
UNRELATED = "the weather in Lisbon is sunny"


def test_same_text_gives_the_same_vector_in_a_new_embedder(hashed: HashedEmbedder) -> None:
    first = hashed.embed(["reset my password please"])
    again = HashedEmbedder().embed(["reset my password please"])
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, again)


def test_the_seed_chooses_the_projection(hashed: HashedEmbedder) -> None:
    other = HashedEmbedder(seed=7)
    assert other.space != hashed.space
    a, b = hashed.embed([SIMILAR[0]])[0], other.embed([SIMILAR[0]])[0]
    assert cosine(a, b) < 0.5


def test_vectors_are_unit_length_and_the_empty_text_is_zero(hashed: HashedEmbedder) -> None:
    vectors = hashed.embed(["one", "two words", "", "a much longer text " * 20])
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 3]], 1.0, atol=1e-5)
    assert norms[2] == 0.0
    assert vectors.shape == (4, 384)


def test_similar_texts_are_closer_than_unrelated_ones(hashed: HashedEmbedder) -> None:
    a, b, c = hashed.embed([*SIMILAR, UNRELATED])
    assert cosine(a, b) > 0.4
    assert cosine(a, b) > cosine(a, c) + 0.3


def test_batch_and_single_calls_agree(hashed: HashedEmbedder) -> None:
    texts = [SIMILAR[0], UNRELATED, "x"]
    batch = hashed.embed(texts)
    singles = np.vstack([hashed.embed([t]) for t in texts])
    np.testing.assert_allclose(batch, singles, atol=1e-6)
    assert hashed.embed([]).shape == (0, 384)


def test_fit_returns_a_new_fitted_embedder_and_leaves_this_one_alone(
    hashed: HashedEmbedder, examples
) -> None:
    corpus, _ = examples(200, seed=3)
    before = hashed.embed([SIMILAR[0]])
    fitted = hashed.fit(corpus)
    assert fitted is not hashed and fitted.fitted and not hashed.fitted
    assert fitted.corpus_size == 200 and "lsa-" in fitted.space
    np.testing.assert_array_equal(hashed.embed([SIMILAR[0]]), before)
    again = HashedEmbedder().fit(corpus)
    np.testing.assert_allclose(fitted.embed(corpus[:5]), again.embed(corpus[:5]), atol=1e-6)


def _nearest_neighbour_accuracy(vectors: np.ndarray, labels: list[str]) -> float:
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -2.0)
    nearest = similarity.argmax(axis=1)
    return float(np.mean(np.array(labels)[nearest] == np.array(labels)))


def test_neighbours_share_the_intent_and_fitting_helps(hashed: HashedEmbedder, examples) -> None:
    corpus, labels = examples(400, seed=4)
    no_fit = _nearest_neighbour_accuracy(hashed.embed(corpus), labels)
    fitted = _nearest_neighbour_accuracy(hashed.fit(corpus).embed(corpus), labels)
    assert no_fit > 0.6  # 4 intents: chance is 0.25
    assert fitted > 0.9
    assert fitted > no_fit


def test_small_corpus_is_padded_to_the_dimension(hashed: HashedEmbedder) -> None:
    fitted = hashed.fit(["refund please", "package late", "password reset"])
    vectors = fitted.embed(["refund please now"])
    assert vectors.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors), 1.0, atol=1e-5)


def test_pickled_embedder_gives_the_same_vectors(hashed: HashedEmbedder, examples) -> None:
    corpus, _ = examples(50, seed=5)
    fitted = hashed.fit(corpus)
    for model in (hashed, fitted):
        copy = pickle.loads(pickle.dumps(model))
        np.testing.assert_array_equal(copy.embed(corpus[:3]), model.embed(corpus[:3]))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.embed("one string"), "not one string"),
        (lambda e: e.embed(["ok", 3]), "text #1 is int"),
        (lambda e: e.fit(["only one"]), "at least 2 texts"),
        (lambda e: HashedEmbedder(dimension=1), "dimension=1"),
        (lambda e: HashedEmbedder(HashedEmbedderConfig(), seed=1), "not both"),
    ],
)
def test_bad_input_is_refused_with_the_value(hashed: HashedEmbedder, call, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call(hashed)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=6))
def test_any_texts_give_unit_or_zero_rows(texts: list[str]) -> None:
    vectors = _SHARED.embed(texts)
    assert vectors.shape == (len(texts), 384)
    assert np.all(np.isfinite(vectors))
    norms = np.linalg.norm(vectors, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-4) | (norms == 0))


_SHARED = HashedEmbedder()
