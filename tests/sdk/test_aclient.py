"""The async SDK: the same operations as the sync one, awaited, in both modes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import llmloop
from llmloop.embedded import ModelStore, TextModel
from llmloop.errors import NotFoundError, ValidationError
from llmloop.sdk.aclient import AsyncClient
from llmloop.settings import Settings
from support import LiveServer, Tenant

TEXTS = ["refund my order please", "where is my parcel", "money back now", "package is late"] * 6
LABELS = ["refund", "shipping", "refund", "shipping"] * 6


@pytest.fixture(params=["local", "remote"])
async def aclient_sdk(
    request: pytest.FixtureRequest, settings: Settings, live_server: LiveServer, tenant: Tenant
) -> AsyncIterator[AsyncClient]:
    ModelStore.for_data_dir(settings.data_dir).save("tiny", TextModel.train(TEXTS, LABELS))
    if request.param == "local":
        client = await llmloop.aconnect(project="acme", settings=settings)
    else:
        client = await llmloop.aconnect(
            live_server.url, api_key=tenant.secret("admin"), settings=settings
        )
    async with client:
        yield client


async def test_async_round_trip(aclient_sdk: AsyncClient) -> None:
    assert (await aclient_sdk.projects.get()).name == "acme"
    key, _ = await aclient_sdk.keys.create("async-ci", role="editor")
    assert "async-ci" in [k.name for k in await aclient_sdk.keys.list()]
    events = await aclient_sdk.audit.list(object_id=key.id)
    assert [e.action for e in events] == ["key.create"]
    with pytest.raises(ValidationError):
        await aclient_sdk.keys.create("x", role="root")
    with pytest.raises(NotFoundError):
        await aclient_sdk.keys.revoke("key_nope")


async def test_concurrent_model_calls(aclient_sdk: AsyncClient) -> None:
    prompts = ["please refund me", "my parcel is late", "give my money back", "package lost"] * 5
    answers = await asyncio.gather(*(aclient_sdk.models.chat("local/tiny", p) for p in prompts))
    labels = [a.extra["label"] for a in answers]
    assert labels == ["refund", "shipping", "refund", "shipping"] * 5
    vectors = await aclient_sdk.models.embed("local/hashed-embed", prompts[:3])
    assert vectors.shape == (3, 384)
