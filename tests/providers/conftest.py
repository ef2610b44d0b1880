"""Fixtures: a scripted upstream on loopback and OpenAI-compatible providers on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from llmloop.providers.openai_compat import OpenAICompatProvider
from llmloop.providers.pricing import PriceTable
from llmloop.providers.transport import RetryPolicy
from llmloop.testing import ScriptedUpstream

SECRET = "sk-test-not-a-real-key-0123456789"


def fast_policy(**overrides: Any) -> RetryPolicy:
    """Short backoff so retry tests are quick; Retry-After is still honoured as sent."""
    options: dict[str, Any] = {"max_retries": 3, "timeout_s": 5.0, "backoff_initial_s": 0.01}
    options["backoff_max_s"] = 0.05
    return RetryPolicy(**{**options, **overrides})


@pytest.fixture
def secret() -> str:
    """The API key the ``provider`` fixture sends."""
    return SECRET


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


@pytest.fixture
async def make_provider(
    upstream: ScriptedUpstream,
) -> AsyncIterator[Callable[..., OpenAICompatProvider]]:
    made: list[OpenAICompatProvider] = []

    def make(**options: Any) -> OpenAICompatProvider:
        policy = options.pop("policy", None) or fast_policy()
        settings: dict[str, Any] = {
            "base_url": upstream.base_url,
            "api_key": SECRET,
            "prices": PriceTable.builtin(),
        }
        provider = OpenAICompatProvider(
            options.pop("name", "openai"), policy=policy, **{**settings, **options}
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


@pytest.fixture
def provider(make_provider: Callable[..., OpenAICompatProvider]) -> OpenAICompatProvider:
    return make_provider()
