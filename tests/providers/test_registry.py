"""Model references and the provider registry, with providers registered through its API."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmloop.errors import SettingsError, UnknownModelError, ValidationError
from llmloop.providers.base import ChatRequest, ChatResponse, Message, Provider
from llmloop.providers.openai_compat import OpenAICompatProvider
from llmloop.providers.registry import ModelRef, ProviderRegistry, chat_request
from llmloop.settings import Settings
from llmloop.testing import ScriptedUpstream, embed_text


class Canned(Provider):
    """A provider answering a fixed text, recording requests."""

    name = "canned"

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []
        self.closed = False

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        return ChatResponse(
            id="1", model=request.model, message=Message(role="assistant", content="canned")
        )

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, max_retries=1, request_timeout_s=5)


@pytest.fixture
async def registry(settings: Settings) -> AsyncIterator[ProviderRegistry]:
    reg = ProviderRegistry(settings)
    yield reg
    await reg.aclose()


# -- ModelRef ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "provider", "name"),
    [
        ("openai/gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("vllm/meta-llama/Llama-3.1-8B-Instruct", "vllm", "meta-llama/Llama-3.1-8B-Instruct"),
        ("local/ticket-assistant", "local", "ticket-assistant"),
        ("my_endpoint.2/model:latest", "my_endpoint.2", "model:latest"),
    ],
)
def test_model_ref_parses(text: str, provider: str, name: str) -> None:
    ref = ModelRef.parse(text)
    assert (ref.provider, ref.name) == (provider, name)
    assert str(ref) == text
    assert ModelRef.parse(ref) is ref


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpt-4o-mini", "is not of the form 'provider/name'"),
        ("/gpt-4o", "is not of the form 'provider/name'"),
        ("openai/", "is not of the form 'provider/name'"),
        ("openai/  ", "is not of the form 'provider/name'"),
        ("OpenAI/gpt-4o", "provider 'OpenAI' must be lower-case"),
        ("open ai/gpt-4o", "provider 'open ai' must be lower-case"),
        ("openai/gpt 4o", "must not contain spaces"),
        ("openai/gpt-4o\n", "must not contain spaces"),
        (42, "must be a string"),
    ],
)
def test_malformed_model_refs_say_what_to_give(text: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        ModelRef.parse(text)  # type: ignore[arg-type]
    assert (
        "openai/gpt-4o-mini" in caught.value.message
        or "lower-case" in message
        or "spaces" in message
    )


@given(
    st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._:/-]{1,40}", fullmatch=True),
)
def test_model_ref_round_trips(provider: str, name: str) -> None:
    ref = ModelRef.parse(f"{provider}/{name}")
    assert (ref.provider, ref.name) == (provider, name)
    assert ModelRef.parse(str(ref)) == ref


# -- resolution and registration ---------------------------------------------------------


def test_builtin_providers_are_known(registry: ProviderRegistry) -> None:
    assert {"openai", "anthropic", "local"} <= set(registry.names())


def test_unknown_provider_lists_known_ones(registry: ProviderRegistry) -> None:
    registry.register("canned", Canned())
    with pytest.raises(UnknownModelError) as caught:
        registry.get("nosuch/model")
    message = caught.value.message
    assert "unknown provider 'nosuch'" in message
    assert "anthropic, canned, local, openai" in message
    assert "register_endpoint('nosuch'" in message


def test_get_returns_provider_and_model_name(registry: ProviderRegistry) -> None:
    canned = Canned()
    registry.register("canned", canned)
    assert registry.get("canned/a/b") == (canned, "a/b")


async def test_factories_are_built_once_on_first_use(registry: ProviderRegistry) -> None:
    built: list[Canned] = []

    def factory() -> Canned:
        built.append(Canned())
        return built[-1]

    registry.register("lazy", factory)
    assert built == []
    first, _ = registry.get("lazy/x")
    second, _ = registry.get("lazy/y")
    assert first is second is built[0]
    await registry.aclose()
    assert built[0].closed


async def test_instances_registered_by_the_caller_are_not_closed(
    registry: ProviderRegistry,
) -> None:
    canned = Canned()
    registry.register("canned", canned)
    await registry.chat("canned/m", "hi")
    await registry.aclose()
    assert not canned.closed


def test_register_validates_name_and_provider(registry: ProviderRegistry) -> None:
    with pytest.raises(ValidationError, match="provider name 'Bad Name'"):
        registry.register("Bad Name", Canned())
    with pytest.raises(
        ValidationError, match="give a Provider or a function returning one, not str"
    ):
        registry.register("x", "not a provider")  # type: ignore[arg-type]
    registry.register("wrong", lambda: "nope")  # type: ignore[arg-type, return-value]
    with pytest.raises(ValidationError, match="returned str, not a Provider"):
        registry.get("wrong/m")


def test_register_replaces_a_builtin(registry: ProviderRegistry) -> None:
    canned = Canned()
    registry.register("openai", canned)
    assert registry.get("openai/gpt-4o")[0] is canned


# -- builtins ----------------------------------------------------------------------------


def test_openai_without_key_says_which_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SettingsError, match="set OPENAI_API_KEY"):
        ProviderRegistry(settings).get("openai/gpt-4o-mini")


async def test_openai_builtin_uses_settings_url_and_key(
    tmp_path: Path, upstream: ScriptedUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key")
    settings = Settings(data_dir=tmp_path, openai_base_url=upstream.base_url, max_retries=0)
    registry = ProviderRegistry(settings)
    try:
        upstream.script(reply="hi", usage={"prompt_tokens": 1_000_000, "completion_tokens": 0})
        response = await registry.chat("openai/gpt-4o-mini", "hello")
    finally:
        await registry.aclose()
    assert response.text == "hi"
    assert response.cost_usd == pytest.approx(0.15)
    assert upstream.requests[0].headers["authorization"] == "Bearer sk-env-key"


async def test_openai_builtin_settings_key_wins_over_environment(
    tmp_path: Path, upstream: ScriptedUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key")
    settings = Settings(
        data_dir=tmp_path, openai_base_url=upstream.base_url, openai_api_key="sk-settings"
    )
    registry = ProviderRegistry(settings)
    try:
        await registry.chat("openai/gpt-4o-mini", "hello")
    finally:
        await registry.aclose()
    assert upstream.requests[0].headers["authorization"] == "Bearer sk-settings"


def test_anthropic_without_sdk_says_what_to_install(
    registry: ProviderRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # makes `import anthropic` fail
    monkeypatch.delitem(sys.modules, "llmloop.providers.anthropic", raising=False)
    with pytest.raises(UnknownModelError, match=r"pip install 'llmloop\[anthropic\]'"):
        registry.get("anthropic/claude-3-5-haiku-latest")


def test_anthropic_without_key_says_which_variable(
    registry: ProviderRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(SettingsError, match="set ANTHROPIC_API_KEY"):
        registry.get("anthropic/claude-3-5-haiku-latest")


async def test_anthropic_builtin_is_built_with_the_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    registry = ProviderRegistry(settings)
    try:
        provider, name = registry.get("anthropic/claude-3-5-haiku-latest")
        assert type(provider).__name__ == "AnthropicProvider"
        assert name == "claude-3-5-haiku-latest"
        assert "sk-ant-secret" not in repr(provider)
    finally:
        await registry.aclose()


# -- endpoints ---------------------------------------------------------------------------


async def test_endpoint_reads_its_key_from_the_named_variable(
    registry: ProviderRegistry, upstream: ScriptedUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLLM_KEY", "vllm-secret")
    registry.register_endpoint("vllm", base_url=upstream.base_url, api_key_env="VLLM_KEY")
    response = await registry.chat("vllm/meta-llama/Llama-3.1-8B", "hello vllm", temperature=0)
    assert response.text == "hello vllm"
    assert response.cost_usd is None  # no price known for this endpoint's models
    received = upstream.requests[0]
    assert received.headers["authorization"] == "Bearer vllm-secret"
    assert received.body["model"] == "meta-llama/Llama-3.1-8B"
    assert received.body["temperature"] == 0
    assert registry.endpoints() == {
        "vllm": {"base_url": upstream.base_url, "api_key_env": "VLLM_KEY"}
    }


def test_endpoint_with_unset_key_variable(
    registry: ProviderRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MISSING_KEY_VAR", raising=False)
    registry.register_endpoint(
        "tgi", base_url="http://127.0.0.1:9/v1", api_key_env="MISSING_KEY_VAR"
    )
    with pytest.raises(
        SettingsError, match=r"endpoint 'tgi' reads its API key from \$MISSING_KEY_VAR"
    ):
        registry.get("tgi/m")


def test_endpoint_refuses_a_key_in_place_of_a_variable_name_without_echoing_it(
    registry: ProviderRegistry,
) -> None:
    with pytest.raises(ValidationError, match="not the key itself") as caught:
        registry.register_endpoint("x", base_url="http://h/v1", api_key_env="sk-live-abc/def+ghi")
    assert "sk-live" not in caught.value.message
    with pytest.raises(ValidationError, match="must start with http"):
        registry.register_endpoint("x", base_url="h:8000")


async def test_chat_stream_and_embed_through_the_registry(
    registry: ProviderRegistry, upstream: ScriptedUpstream
) -> None:
    registry.register_endpoint("up", base_url=upstream.base_url)
    upstream.script(chunks=["a", "b"])
    chunks = [c async for c in registry.chat_stream("up/m", [{"role": "user", "content": "x"}])]
    assert "".join(c.content or "" for c in chunks) == "ab"
    embedded = await registry.embed("up/e", "one text", dimensions=4)
    assert embedded.vectors == [pytest.approx(embed_text("one text", 4))]
    models = await registry.list_models("up")
    assert "up/gpt-4o-mini" in [m.id for m in models]
    assert upstream.requests[0].headers["authorization"] == "Bearer no-key"


async def test_unknown_parameters_go_to_extra(
    registry: ProviderRegistry, upstream: ScriptedUpstream
) -> None:
    registry.register_endpoint("up", base_url=upstream.base_url)
    await registry.chat("up/m", "hi", max_tokens=5, top_k=40, extra={"min_p": 0.1})
    body = upstream.requests[0].body
    assert (body["max_tokens"], body["top_k"], body["min_p"]) == (5, 40, 0.1)


def test_chat_request_validation_names_the_field() -> None:
    with pytest.raises(ValidationError, match="messages must be a string or a non-empty list"):
        chat_request("m", [], {})
    with pytest.raises(ValidationError, match=r"messages\.0\.role"):
        chat_request("m", [{"role": "robot", "content": "x"}], {})
    with pytest.raises(ValidationError, match="temperature"):
        chat_request("m", "hi", {"temperature": "hot"})


async def test_replacing_a_provider_closes_the_old_built_one(registry: ProviderRegistry) -> None:
    built: list[Canned] = []
    registry.register("p", lambda: built.append(Canned()) or built[-1])  # type: ignore[func-returns-value]
    registry.get("p/m")
    registry.register("p", Canned())
    assert not built[0].closed
    await registry.aclose()
    assert built[0].closed


# -- sync wrappers -----------------------------------------------------------------------


@pytest.fixture
def sync_registry(settings: Settings, upstream: ScriptedUpstream) -> Iterator[ProviderRegistry]:
    registry = ProviderRegistry(settings)
    registry.register_endpoint("up", base_url=upstream.base_url)
    yield registry
    registry.close()


def test_sync_wrappers(sync_registry: ProviderRegistry, upstream: ScriptedUpstream) -> None:
    assert sync_registry.chat_sync("up/m", "from a script").text == "from a script"
    assert sync_registry.chat_sync("up/m", "twice").text == "twice"  # same loop, pooled client
    upstream.script(chunks=["x", "y", "z"])
    assert "".join(c.content or "" for c in sync_registry.chat_stream_sync("up/m", "q")) == "xyz"
    assert len(sync_registry.embed_sync("up/e", ["a", "b"]).vectors) == 2


def test_sync_stream_stopped_early_closes_the_upstream_stream(
    sync_registry: ProviderRegistry, upstream: ScriptedUpstream
) -> None:
    upstream.script(chunks=["1", "2", "3", "4"])
    stream = sync_registry.chat_stream_sync("up/m", "q")
    assert next(stream).content == "1"
    stream.close()  # type: ignore[attr-defined]
    assert sync_registry.chat_sync("up/m", "still fine").text == "still fine"


def test_sync_errors_surface_unchanged(sync_registry: ProviderRegistry) -> None:
    with pytest.raises(UnknownModelError, match="unknown provider 'nope'"):
        sync_registry.chat_sync("nope/m", "hi")


def test_registered_providers_are_openai_compat_for_endpoints(
    registry: ProviderRegistry, upstream: ScriptedUpstream
) -> None:
    registry.register_endpoint("up", base_url=upstream.base_url)
    provider, _ = registry.get("up/m")
    assert isinstance(provider, OpenAICompatProvider)
    assert provider.name == "up"


async def test_local_models_resolve_to_the_embedded_provider(registry: ProviderRegistry) -> None:
    provider, name = registry.get("local/embed")
    assert type(provider).__name__ == "LocalProvider"
    assert name == "embed"
    response = await registry.embed("local/embed", ["hello world"])
    assert len(response.vectors) == 1 and len(response.vectors[0]) > 0


def test_sync_wrappers_follow_a_new_registration(sync_registry: ProviderRegistry) -> None:
    assert sync_registry.chat_sync("up/m", "echoed").text == "echoed"
    sync_registry.register("up", Canned)  # a factory: built anew for the sync loop too
    assert sync_registry.chat_sync("up/m", "echoed").text == "canned"
