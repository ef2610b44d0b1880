"""The ``local/`` provider through the :class:`Provider` interface, on models made here."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from llmloop.embedded import HashedEmbedder, ModelStore, TextModel, minilm_available
from llmloop.errors import UnknownModelError, ValidationError
from llmloop.providers.base import ChatRequest, EmbeddingRequest, Message, Provider
from llmloop.providers.local import LocalProvider
from llmloop.settings import Settings

INTENTS = {
    "refund": ["refund", "money back", "reimburse me"],
    "delivery": ["parcel", "courier", "tracking number"],
    "login": ["password", "locked out", "log in"],
}
FILLER = ["hello", "please", "today", "thanks", "help", "my order", "again"]
TEMPLATES = {"refund": "Hi {name}, a refund for order {order} is on its way ({probability:.0%})."}


def _examples(n: int, seed: int, intents: dict[str, list[str]] = INTENTS):
    rng = random.Random(seed)
    labels = [list(intents)[i % len(intents)] for i in range(n)]
    texts = [" ".join([rng.choice(intents[lab]), *rng.sample(FILLER, 3)]) for lab in labels]
    return texts, labels


@pytest.fixture(scope="module")
def model() -> TextModel:
    return TextModel.train(*_examples(150, seed=1), templates=TEMPLATES)


@pytest.fixture
def provider(tmp_path: Path) -> LocalProvider:
    return LocalProvider(Settings(data_dir=tmp_path))


def _ask(model: str, text: str, **fields) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=[
            Message(role="system", content="You triage support tickets."),
            Message(role="user", content=text),
        ],
        **fields,
    )


async def test_chat_answers_with_the_template_and_the_prediction(
    provider: LocalProvider, model: TextModel
) -> None:
    provider.add_model("tickets", model)
    response = await provider.chat(
        _ask(
            "tickets",
            "I want my money back please",
            extra={"variables": {"name": "Ana", "order": 42}},
        )
    )
    assert isinstance(provider, Provider)
    assert response.text.startswith("Hi Ana, a refund for order 42 is on its way (")
    assert response.extra["label"] == "refund"
    assert response.extra["probability"] == max(response.extra["probabilities"].values())
    assert sum(response.extra["probabilities"].values()) == pytest.approx(1.0)
    assert set(response.extra["probabilities"]) == {"refund", "delivery", "login"}
    assert response.model == "tickets" and response.cost_usd == 0.0
    assert response.usage.prompt_tokens == 4 + 6  # whitespace words of both messages
    assert response.usage.completion_tokens == len(response.text.split())
    assert response.usage.total_tokens == 10 + response.usage.completion_tokens


async def test_explain_returns_the_ngrams_behind_the_label(
    provider: LocalProvider, model: TextModel
) -> None:
    provider.add_model("tickets", model)
    plain = await provider.chat(_ask("tickets", "the courier lost my parcel"))
    assert "attributions" not in plain.extra
    response = await provider.chat(
        _ask("tickets", "the courier lost my parcel", extra={"explain": 3})
    )
    attributions = response.extra["attributions"]
    assert 1 <= len(attributions) <= 3
    assert attributions == [a.model_dump() for a in model.explain(
        "the courier lost my parcel", label="delivery", top=3
    )]  # fmt: skip
    contributions = [a["contribution"] for a in attributions]
    assert contributions == sorted(contributions, reverse=True) and contributions[0] > 0
    assert any("courier" in a["feature"] or "parcel" in a["feature"] for a in attributions)
    with pytest.raises(ValidationError, match=r"extra\.explain"):
        await provider.chat(_ask("tickets", "parcel", extra={"explain": "yes"}))


async def test_label_without_template_answers_json(
    provider: LocalProvider, model: TextModel
) -> None:
    provider.add_model("tickets", model)
    response = await provider.chat(_ask("local/tickets", "the courier lost my parcel"))
    assert json.loads(response.text) == {
        "label": "delivery",
        "probability": round(response.extra["probability"], 4),
    }


async def test_json_response_format_wraps_the_reply(
    provider: LocalProvider, model: TextModel
) -> None:
    provider.add_model("tickets", model)
    response = await provider.chat(
        _ask(
            "tickets",
            "refund please",
            response_format={"type": "json_object"},
            extra={"variables": {"name": "Bo", "order": 7}},
        )
    )
    body = json.loads(response.text)
    assert body["label"] == "refund" and body["reply"].startswith("Hi Bo")


async def test_max_tokens_cuts_the_reply(provider: LocalProvider, model: TextModel) -> None:
    provider.add_model("tickets", model)
    response = await provider.chat(
        _ask(
            "tickets", "refund please", max_tokens=3, extra={"variables": {"name": "A", "order": 1}}
        )
    )
    assert response.text == "Hi A, a" and response.finish_reason == "length"


async def test_streaming_uses_the_same_answer(provider: LocalProvider, model: TextModel) -> None:
    provider.add_model("tickets", model)
    chunks = [c async for c in provider.chat_stream(_ask("tickets", "I am locked out"))]
    assert len(chunks) == 1 and json.loads(chunks[0].content or "")["label"] == "login"


async def test_saved_versions_are_served_latest_and_by_number(
    provider: LocalProvider, model: TextModel, tmp_path: Path
) -> None:
    store = ModelStore.for_data_dir(tmp_path)
    store.save("tickets", model)
    cancel = {"cancel": ["cancel my plan", "unsubscribe", "stop my subscription"]}
    store.save("tickets", model.fine_tune(*_examples(30, seed=2, intents=cancel)))
    text = "please unsubscribe me and cancel my plan"
    variables = {"variables": {"name": "Al", "order": 3}}
    latest = await provider.chat(_ask("tickets", text, extra=variables))
    first = await provider.chat(_ask("local/tickets@1", text, extra=variables))
    assert latest.model == "tickets@2" and latest.extra["label"] == "cancel"
    assert first.model == "tickets@1" and "cancel" not in first.extra["probabilities"]


async def test_embed_with_the_builtin_embedders(provider: LocalProvider) -> None:
    texts = ["reset my password", "I forgot my password", "the parcel is late"]
    for name in ["embed", "hashed-embed", *(["minilm"] if minilm_available() else [])]:
        response = await provider.embed(EmbeddingRequest(model=name, input=texts))
        vectors = np.array(response.vectors)
        assert vectors.shape == (3, 384), name
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2], name
        assert response.usage.prompt_tokens == 3 + 4 + 4 and response.cost_usd == 0.0
    default = await provider.embed(EmbeddingRequest(model="local/embed", input=texts[:1]))
    assert default.model == ("minilm" if minilm_available() else "hashed-embed")


async def test_embed_with_a_saved_fitted_embedder(provider: LocalProvider, tmp_path: Path) -> None:
    corpus, _ = _examples(60, seed=3)
    embedder = HashedEmbedder(dimension=16).fit(corpus)
    ModelStore.for_data_dir(tmp_path).save("ticket-space", embedder)
    response = await provider.embed(EmbeddingRequest(model="ticket-space", input=corpus[:2]))
    assert response.model == "ticket-space@1"
    np.testing.assert_allclose(response.vectors, embedder.embed(corpus[:2]), atol=1e-6)


async def test_list_models_shows_builtins_memory_and_saved_versions(
    provider: LocalProvider, model: TextModel, tmp_path: Path
) -> None:
    ModelStore.for_data_dir(tmp_path).save("tickets", model)
    provider.add_model("draft", model)
    infos = {m.id: m for m in await provider.list_models()}
    assert {
        "local/embed",
        "local/hashed-embed",
        "local/draft",
        "local/tickets",
        "local/tickets@1",
    } <= set(infos)
    assert ("local/minilm" in infos) == minilm_available()
    assert infos["local/tickets"].kind == "chat" and infos["local/embed"].kind == "embedding"
    assert "3 labels" in infos["local/tickets@1"].description
    assert all(m.provider == "local" for m in infos.values())


async def test_unknown_model_lists_what_exists_and_how_to_train(
    provider: LocalProvider, model: TextModel, tmp_path: Path
) -> None:
    ModelStore.for_data_dir(tmp_path).save("tickets", model)
    with pytest.raises(UnknownModelError) as caught:
        await provider.chat(_ask("local/nope", "hi"))
    message = caught.value.message
    assert "local/nope" in message and "local/tickets" in message and "local/embed" in message
    assert "TextModel.train" in message and "add_model" in message
    assert "local/tickets" in caught.value.details["available"]
    with pytest.raises(UnknownModelError, match=r"versions are \[1\]"):
        await provider.chat(_ask("tickets@4", "hi"))


async def test_wrong_kind_of_model_is_refused(provider: LocalProvider, model: TextModel) -> None:
    provider.add_model("tickets", model)
    with pytest.raises(ValidationError, match="embedding model"):
        await provider.chat(_ask("hashed-embed", "hi"))
    with pytest.raises(ValidationError, match="not an embedder"):
        await provider.embed(EmbeddingRequest(model="tickets", input=["hi"]))
    with pytest.raises(ValidationError, match="dimensions=8"):
        await provider.embed(EmbeddingRequest(model="hashed-embed", input=["hi"], dimensions=8))
    with pytest.raises(ValidationError, match="role 'user'"):
        await provider.chat(
            ChatRequest(
                model="tickets", messages=[Message(role="system", content="only a system prompt")]
            )
        )


async def test_in_memory_models_need_a_valid_name_and_a_fitted_model(
    provider: LocalProvider, model: TextModel
) -> None:
    with pytest.raises(ValidationError, match="reserved"):
        provider.add_model("embed", model)
    with pytest.raises(ValidationError, match="not fitted"):
        provider.add_model("x", TextModel())
    provider.add_model("x", model)
    provider.remove_model("x")
    with pytest.raises(UnknownModelError):
        await provider.chat(_ask("x", "hi"))
