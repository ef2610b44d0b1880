"""Model references (``provider/name``) and the one place providers are registered.

Builtin providers:

- ``openai/<model>`` — OpenAI, or any OpenAI-compatible server at ``LLMLOOP_OPENAI_BASE_URL``;
  key from ``LLMLOOP_OPENAI_API_KEY`` or ``OPENAI_API_KEY``.
- ``anthropic/<model>`` — needs ``pip install 'llmloop[anthropic]'``; key from
  ``LLMLOOP_ANTHROPIC_API_KEY`` or ``ANTHROPIC_API_KEY``.
- ``local/<model>`` — the embedded models of :mod:`llmloop.providers.local`; no key.

More OpenAI-compatible servers are added at runtime under their own name::

    registry.register_endpoint("vllm", base_url="http://gpu1:8000/v1", api_key_env="VLLM_KEY")
    await registry.chat("vllm/meta-llama/Llama-3.1-8B-Instruct", "Hello")

and any :class:`~llmloop.providers.base.Provider` (or a factory of one) with
:meth:`ProviderRegistry.register`. API keys are named by environment variable and read
when a provider is first used; they are never logged, shown or returned.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import re
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any, TypeVar, cast

import pydantic

from llmloop.errors import LlmloopError, SettingsError, UnknownModelError, ValidationError
from llmloop.providers.base import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Message,
    ModelInfo,
    Provider,
)
from llmloop.providers.openai_compat import OpenAICompatProvider
from llmloop.providers.pricing import PriceTable, default_prices
from llmloop.providers.transport import RetryPolicy
from llmloop.settings import Settings, get_settings

log = logging.getLogger(__name__)

__all__ = ["ModelRef", "ProviderFactory", "ProviderRegistry", "chat_request", "default_registry"]

T = TypeVar("T")

ProviderFactory = Callable[[], Provider]

_PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXAMPLES = "'openai/gpt-4o-mini', 'anthropic/claude-3-5-haiku-latest' or 'local/ticket-assistant'"
_OFFICIAL_OPENAI = ("https://api.openai.com",)
_CHAT_FIELDS = frozenset(ChatRequest.model_fields) - {"model", "messages", "extra"}


@dataclass(frozen=True)
class ModelRef:
    """``provider/name``; the name may itself contain slashes (``vllm/meta-llama/Llama-3``)."""

    provider: str
    name: str

    @classmethod
    def parse(cls, value: str | ModelRef) -> ModelRef:
        """Parse ``provider/name``; raise :class:`ValidationError` saying what is wrong."""
        if isinstance(value, ModelRef):
            return value
        if not isinstance(value, str):
            raise ValidationError(f"model reference {value!r} must be a string such as {_EXAMPLES}")
        provider, sep, name = value.partition("/")
        if not sep or not provider or not name.strip():
            raise ValidationError(
                f"model reference {value!r} is not of the form 'provider/name'; "
                f"give e.g. {_EXAMPLES}"
            )
        if not _PROVIDER_NAME.fullmatch(provider):
            raise ValidationError(
                f"model reference {value!r}: provider {provider!r} must be lower-case letters, "
                "digits, '-', '_' or '.' (at most 64)"
            )
        if name != name.strip() or any(c.isspace() or not c.isprintable() for c in name):
            raise ValidationError(
                f"model reference {value!r}: the model name must not contain spaces"
            )
        return cls(provider, name)

    def __str__(self) -> str:
        return f"{self.provider}/{self.name}"


@dataclass(frozen=True)
class _Entry:
    factory: ProviderFactory | None = None
    provider: Provider | None = None  # registered as an instance: the caller owns it


def _import_plugin(module: str, extra: str) -> ModuleType:
    """Import an optional provider module; a missing SDK gets a pip command."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] == extra:
            raise UnknownModelError(
                f"{extra}/... models need the {extra} SDK, which is not installed: "
                f"pip install 'llmloop[{extra}]'"
            ) from None
        raise


class ProviderRegistry:
    """Providers by name, built on first use; resolves model references to them.

    Use the async methods from async code and the ``*_sync`` ones from scripts; the
    latter run on a private event loop with their own provider instances.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        prices: PriceTable | None = None,
        builtins: bool = True,
    ) -> None:
        self.settings = settings or get_settings()
        self.prices = prices or (
            default_prices() if settings is None else PriceTable.from_settings(settings)
        )
        self.policy = RetryPolicy.from_settings(self.settings)
        self._entries: dict[str, _Entry] = {}
        self._endpoints: dict[str, dict[str, Any]] = {}
        self._built: dict[str, Provider] = {}
        self._retired: list[Provider] = []  # built, then replaced by register(); closed later
        self._lock = threading.RLock()  # a factory may resolve another provider
        self._twin: ProviderRegistry | None = None
        self._portal: _Portal | None = None
        if builtins:
            self._entries["openai"] = _Entry(factory=self._build_openai)
            self._entries["anthropic"] = _Entry(factory=self._build_anthropic)
            self._entries["local"] = _Entry(factory=self._build_local)

    # -- builtin providers ---------------------------------------------------------------

    def _build_openai(self) -> Provider:
        base_url = self.settings.openai_base_url
        key = self.settings.openai_api_key or os.environ.get("OPENAI_API_KEY")
        if not key and (base_url is None or base_url.startswith(_OFFICIAL_OPENAI)):
            raise SettingsError(
                "openai/... models need an API key: set OPENAI_API_KEY (or "
                "LLMLOOP_OPENAI_API_KEY), or point LLMLOOP_OPENAI_BASE_URL at a server that "
                "needs none"
            )
        return OpenAICompatProvider(
            "openai", base_url=base_url, api_key=key, policy=self.policy, prices=self.prices
        )

    def _build_anthropic(self) -> Provider:
        module = _import_plugin("llmloop.providers.anthropic", "anthropic")
        key = self.settings.anthropic_api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise SettingsError(
                "anthropic/... models need an API key: set ANTHROPIC_API_KEY "
                "(or LLMLOOP_ANTHROPIC_API_KEY)"
            )
        provider: Provider = module.AnthropicProvider(
            "anthropic", api_key=key, policy=self.policy, prices=self.prices
        )
        return provider

    def _build_local(self) -> Provider:
        module = importlib.import_module("llmloop.providers.local")
        local_class = getattr(module, "LocalProvider", None)
        if local_class is None:
            raise UnknownModelError(
                "local/... models are not available: llmloop.providers.local has no LocalProvider "
                "in this installation"
            )
        provider: Provider = local_class(self.settings)
        return provider

    # -- registration --------------------------------------------------------------------

    def register(self, name: str, provider: Provider | ProviderFactory) -> None:
        """Serve ``name/...`` models with ``provider``, or with what ``provider()`` builds on
        first use. Replaces an earlier registration of the same name (builtins too)."""
        if not isinstance(name, str) or not _PROVIDER_NAME.fullmatch(name):
            raise ValidationError(
                f"provider name {name!r} must be lower-case letters, digits, '-', '_' or '.' "
                "(at most 64)"
            )
        if isinstance(provider, Provider):
            entry = _Entry(provider=provider)
        elif callable(provider):
            entry = _Entry(factory=provider)
        else:
            raise ValidationError(
                f"register({name!r}, ...): give a Provider or a function returning one, "
                f"not {type(provider).__name__}"
            )
        with self._lock:
            self._entries[name] = entry
            self._endpoints.pop(name, None)
            self._retire(name)
            if self._twin is not None:
                self._twin._retire(name)

    def register_endpoint(
        self,
        name: str,
        *,
        base_url: str,
        api_key_env: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, object] | None = None,
        stream_usage: bool = True,
    ) -> None:
        """Serve ``name/...`` models with an OpenAI-compatible server at ``base_url``.

        ``api_key_env`` names the environment variable holding its key (read on first use);
        without it no key is sent. ``stream_usage=False`` for servers that reject
        ``stream_options``.
        """
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValidationError(
                f"endpoint {name!r}: base_url {base_url!r} must start with http:// or https://"
            )
        if api_key_env is not None and not _ENV_NAME.fullmatch(api_key_env):
            raise ValidationError(
                f"endpoint {name!r}: api_key_env must be the name of an environment variable "
                "(such as 'VLLM_API_KEY'), not the key itself"
            )

        def build() -> Provider:
            key = os.environ.get(api_key_env) if api_key_env else None
            if api_key_env and not key:
                raise SettingsError(
                    f"endpoint {name!r} reads its API key from ${api_key_env}, which is not set"
                )
            return OpenAICompatProvider(
                name,
                base_url=base_url,
                api_key=key,
                policy=self.policy,
                prices=self.prices,
                default_headers=default_headers,
                default_query=default_query,
                stream_usage=stream_usage,
            )

        self.register(name, build)
        with self._lock:
            self._endpoints[name] = {"base_url": base_url, "api_key_env": api_key_env}

    def endpoints(self) -> dict[str, dict[str, Any]]:
        """Registered endpoints: base URL and key variable name (never the key)."""
        with self._lock:
            return {name: dict(spec) for name, spec in self._endpoints.items()}

    def names(self) -> list[str]:
        """Known provider names, sorted."""
        with self._lock:
            return sorted(self._entries)

    def _retire(self, name: str) -> None:
        built = self._built.pop(name, None)
        if built is not None:
            self._retired.append(built)

    # -- resolution ----------------------------------------------------------------------

    def provider(self, name: str) -> Provider:
        """The provider registered as ``name``, built on first use."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                known = ", ".join(sorted(self._entries)) or "none"
                raise UnknownModelError(
                    f"unknown provider {name!r}; known providers: {known}. Add an "
                    f"OpenAI-compatible server with register_endpoint({name!r}, base_url=...) "
                    "or a Provider with register()"
                )
            if entry.provider is not None:
                return entry.provider
            built = self._built.get(name)
            if built is None:
                assert entry.factory is not None
                built = entry.factory()
                if not isinstance(built, Provider):
                    raise ValidationError(
                        f"the factory registered for provider {name!r} returned "
                        f"{type(built).__name__}, not a Provider"
                    )
                self._built[name] = built
            return built

    def get(self, ref: str | ModelRef) -> tuple[Provider, str]:
        """``(provider, model name)`` for a model reference such as ``openai/gpt-4o-mini``."""
        parsed = ModelRef.parse(ref)
        return self.provider(parsed.provider), parsed.name

    # -- calls ---------------------------------------------------------------------------

    async def chat(self, ref: str | ModelRef, messages: Any, **params: Any) -> ChatResponse:
        """Chat with ``ref``. ``messages``: a string (one user message), or a list of
        :class:`Message` or OpenAI-style dicts; ``params``: ChatRequest fields, the rest
        goes to the provider as ``extra``."""
        provider, name = self.get(ref)
        return await provider.chat(chat_request(name, messages, params))

    async def chat_stream(
        self, ref: str | ModelRef, messages: Any, **params: Any
    ) -> AsyncIterator[ChatChunk]:
        """Stream a chat answer from ``ref``; the last chunk carries usage when known."""
        provider, name = self.get(ref)
        request = chat_request(name, messages, params)
        async for chunk in provider.chat_stream(request):
            yield chunk

    async def embed(
        self, ref: str | ModelRef, texts: str | Sequence[str], **params: Any
    ) -> EmbeddingResponse:
        """Embed one text or several with ``ref`` (``dimensions=`` and provider extras)."""
        provider, name = self.get(ref)
        inputs = [texts] if isinstance(texts, str) else list(texts)
        try:
            request = EmbeddingRequest(model=name, input=inputs, **params)
        except pydantic.ValidationError as exc:
            raise ValidationError(
                f"invalid embedding request for {ref}: {_pydantic_problems(exc)}"
            ) from None
        return await provider.embed(request)

    async def list_models(self, provider: str) -> list[ModelInfo]:
        """The models ``provider`` serves, as its upstream lists them."""
        return await self.provider(provider).list_models()

    async def list_all_models(self, *, timeout_s: float = 5.0) -> list[ModelInfo]:
        """Models of every configured provider. Providers lacking configuration (no key)
        are left out; one that fails or takes longer than ``timeout_s`` is logged and
        left out, so a listing never hangs on an unreachable upstream."""
        listed: list[ModelInfo] = []
        for name in self.names():
            try:
                provider = self.provider(name)
            except (SettingsError, UnknownModelError):
                continue
            try:
                listed.extend(await asyncio.wait_for(provider.list_models(), timeout_s))
            except (TimeoutError, LlmloopError) as exc:
                log.warning("listing models of provider %r failed: %s", name, exc)
        return listed

    async def aclose(self) -> None:
        """Close the providers this registry built (not those registered as instances)."""
        with self._lock:
            providers = [*self._built.values(), *self._retired]
            self._built.clear()
            self._retired.clear()
        for provider in providers:
            await provider.aclose()

    # -- sync wrappers for scripts -------------------------------------------------------

    def chat_sync(self, ref: str | ModelRef, messages: Any, **params: Any) -> ChatResponse:
        """:meth:`chat` for code without an event loop."""
        return self._run(lambda twin: twin.chat(ref, messages, **params))

    def embed_sync(
        self, ref: str | ModelRef, texts: str | Sequence[str], **params: Any
    ) -> EmbeddingResponse:
        """:meth:`embed` for code without an event loop."""
        return self._run(lambda twin: twin.embed(ref, texts, **params))

    def chat_stream_sync(
        self, ref: str | ModelRef, messages: Any, **params: Any
    ) -> Iterator[ChatChunk]:
        """:meth:`chat_stream` for code without an event loop."""
        portal = self._ensure_portal()
        assert self._twin is not None
        stream = cast(
            AsyncGenerator[ChatChunk, None], self._twin.chat_stream(ref, messages, **params)
        )
        try:
            while True:
                try:
                    yield portal.run(anext(stream))
                except StopAsyncIteration:
                    return
        finally:
            portal.run(stream.aclose())

    def close(self) -> None:
        """Close what the sync wrappers opened, and their event loop."""
        if self._twin is not None and self._portal is not None:
            self._portal.run(self._twin.aclose())
        if self._portal is not None:
            self._portal.close()
        self._twin = self._portal = None

    def _ensure_portal(self) -> _Portal:
        with self._lock:
            if self._portal is None:
                self._portal = _Portal()
            if self._twin is None:
                twin = ProviderRegistry(self.settings, prices=self.prices, builtins=False)
                twin._entries = self._entries  # same registrations, own provider instances
                twin._endpoints = self._endpoints
                twin._lock = self._lock
                self._twin = twin
            return self._portal

    def _run(self, call: Callable[[ProviderRegistry], Coroutine[Any, Any, T]]) -> T:
        portal = self._ensure_portal()
        assert self._twin is not None
        return portal.run(call(self._twin))


class _Portal:
    """A private event loop in a daemon thread, on which the sync wrappers run."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="llmloop-providers", daemon=True
        )
        self._thread.start()

    def run(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(_await(coro), self._loop).result()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _pydantic_problems(exc: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
    )


def chat_request(model: str, messages: Any, params: Mapping[str, Any]) -> ChatRequest:
    """A ChatRequest from loose arguments: a string or a list of messages, and keyword
    parameters (ChatRequest fields; unknown ones go to ``extra``)."""
    if isinstance(messages, str):
        messages = [Message(role="user", content=messages)]
    if not isinstance(messages, list | tuple) or not messages:
        raise ValidationError(
            "messages must be a string or a non-empty list of messages, "
            f"not {type(messages).__name__}"
        )
    known = {k: v for k, v in params.items() if k in _CHAT_FIELDS}
    extra = {k: v for k, v in params.items() if k not in _CHAT_FIELDS and k != "extra"}
    extra.update(params.get("extra") or {})
    try:
        return ChatRequest(model=model, messages=list(messages), extra=extra, **known)
    except pydantic.ValidationError as exc:
        raise ValidationError(
            f"invalid chat request for model {model!r}: {_pydantic_problems(exc)}"
        ) from None


@lru_cache(maxsize=1)
def default_registry() -> ProviderRegistry:
    """The process-wide registry, on :func:`llmloop.settings.get_settings`."""
    return ProviderRegistry()
