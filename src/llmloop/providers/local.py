"""The ``local/`` provider: embedded models, offline, no API key, cost 0.

Model names it serves (``ChatRequest.model`` without the ``local/`` prefix; the prefix is
accepted too):

* ``<name>`` — a text model: one added with :meth:`LocalProvider.add_model`, else the
  latest saved version under ``<data_dir>/models/<name>/``.
* ``<name>@<version>`` — that saved version.
* ``embed`` (MiniLM if installed, else hashed), ``hashed-embed``, ``minilm`` — embedders;
  a saved or added :class:`~llmloop.embedded.HashedEmbedder` is served by name too.

``chat`` classifies the last user message and answers with the label's reply template
(variables from ``extra["variables"]``), or with ``{"label": …, "probability": …}`` when
the label has none. ``ChatResponse.extra`` holds ``label``, ``probability`` and
``probabilities`` (and ``attributions``, the n-grams behind the label, with
``extra={"explain": true}`` or a count); ``ChatResponse.model`` names the exact version
(``name@3``).
Token counts are approximate: whitespace-separated words, not a real tokenizer's tokens.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, Literal

from llmloop.embedded import (
    BUILTIN_EMBEDDERS,
    DEFAULT_EMBEDDER,
    Embedder,
    HashedEmbedder,
    LocalModel,
    ModelManifest,
    ModelStore,
    Reply,
    TextModel,
    check_model_name,
    default_embedder_name,
    get_embedder,
    minilm_available,
)
from llmloop.errors import NotFoundError, UnknownModelError, ValidationError
from llmloop.providers.base import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Message,
    ModelInfo,
    Provider,
    Usage,
)
from llmloop.settings import Settings

PREFIX = "local/"
_JSON_FORMATS = {"json_object", "json_schema"}
_HOW_TO_TRAIN = (
    "train one with llmloop.embedded.TextModel.train(texts, labels) and save it with "
    "ModelStore.for_data_dir(settings.data_dir).save(name, model) "
    "(or register it in memory with LocalProvider.add_model(name, model))"
)


def approx_tokens(text: str) -> int:
    """Whitespace-separated words: the approximate token count this provider reports."""
    return len(text.split())


class LocalProvider(Provider):
    """Serves saved and in-memory local models, and the built-in embedders."""

    name = "local"

    def __init__(self, settings: Settings, *, store: ModelStore | None = None) -> None:
        self.settings = settings
        self.store = store if store is not None else ModelStore.for_data_dir(settings.data_dir)
        self._memory: dict[str, LocalModel] = {}
        self._loaded: dict[tuple[str, int], LocalModel] = {}  # versions never change

    # ------------------------------------------------------------------ registry

    def add_model(self, name: str, model: LocalModel) -> None:
        """Serve ``model`` as ``local/<name>`` from memory (it wins over a saved one)."""
        check_model_name(name)
        if not isinstance(model, TextModel | HashedEmbedder):
            raise ValidationError(
                f"add_model({name!r}, …) got a {type(model).__name__}: pass a fitted "
                "TextModel or a HashedEmbedder"
            )
        if isinstance(model, TextModel) and not model.is_fitted:
            raise ValidationError(f"add_model({name!r}, …): the TextModel is not fitted yet")
        self._memory[name] = model

    def remove_model(self, name: str) -> None:
        """Stop serving the in-memory model ``name`` (saved versions are untouched)."""
        if self._memory.pop(name, None) is None:
            raise UnknownModelError(f"no in-memory model {name!r}: {sorted(self._memory)}")

    def available(self) -> list[str]:
        """Every ``local/…`` model this provider can serve now, sorted."""
        builtins = [n for n in BUILTIN_EMBEDDERS if n != "minilm" or minilm_available()]
        return sorted({*builtins, *self._memory, *self.store.names()})

    def _unknown(self, model: str, reason: str) -> UnknownModelError:
        names = ", ".join(PREFIX + n for n in self.available())
        return UnknownModelError(
            f"{PREFIX}{model}: {reason}. Available local models: {names}. "
            f"To add a model, {_HOW_TO_TRAIN}",
            details={"model": PREFIX + model, "available": [PREFIX + n for n in self.available()]},
        )

    def resolve(self, model: str) -> tuple[str, LocalModel | Embedder]:
        """The exact name (``name@version`` for a saved one) and the model for ``model``."""
        ref = model.removeprefix(PREFIX)
        if ref in BUILTIN_EMBEDDERS:
            embedder = get_embedder(ref)
            return embedder.name, embedder
        name, _, version = ref.partition("@")
        if not version and name in self._memory:
            return name, self._memory[name]
        try:
            number = self.store.resolve(name, version or "latest")
        except NotFoundError as exc:
            reason = "no such model" if name not in self.store.names() else exc.message
            raise self._unknown(ref, reason) from None
        key = (name, number)
        if key not in self._loaded:
            self._loaded[key] = self.store.load(name, number).model
        return f"{name}@{number}", self._loaded[key]

    # ------------------------------------------------------------------ chat

    async def chat(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        ref, model = await asyncio.to_thread(self.resolve, request.model)
        if not isinstance(model, TextModel):
            raise ValidationError(
                f"{PREFIX}{ref} is an embedding model: call embed() with it, or chat with "
                f"a text model ({', '.join(PREFIX + n for n in self._chat_models())})"
            )
        text = _last_user_text(request.messages)
        variables = request.extra.get("variables") or {}
        if not isinstance(variables, dict):
            raise ValidationError(
                f"extra.variables must be an object of template variables, got {variables!r}"
            )
        reply = await asyncio.to_thread(model.reply, text, variables)
        explain = _explain_top(request.extra.get("explain"))
        attributions = (
            await asyncio.to_thread(model.explain, text, label=reply.label, top=explain)
            if explain
            else None
        )
        content = _content(reply, request.response_format)
        content, finish = _limit(content, request.max_tokens, request.stop)
        prompt_tokens = sum(approx_tokens(m.text()) for m in request.messages)
        completion_tokens = approx_tokens(content)
        return ChatResponse(
            id=f"chatcmpl-local-{uuid.uuid4().hex}",
            model=ref,
            message=Message(role="assistant", content=content),
            finish_reason=finish,
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            cost_usd=0.0,
            latency_ms=(time.perf_counter() - started) * 1000,
            extra={
                "label": reply.label,
                "probability": reply.probability,
                "probabilities": reply.probabilities,
                "templated": reply.templated,
                "tokens_approximate": True,
                **(
                    {"attributions": [a.model_dump() for a in attributions]}
                    if attributions is not None
                    else {}
                ),
            },
        )

    def _chat_models(self) -> list[str]:
        names = [n for n, m in self._memory.items() if isinstance(m, TextModel)]
        return sorted({*names, *(m.name for m in self.store.latest() if m.kind != "embedder")})

    # ------------------------------------------------------------------ embeddings

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        ref, model = await asyncio.to_thread(self.resolve, request.model)
        if isinstance(model, TextModel):
            raise ValidationError(
                f"{PREFIX}{ref} is a text classifier, not an embedder: embed with "
                f"{PREFIX}{DEFAULT_EMBEDDER}, {PREFIX}hashed-embed or {PREFIX}minilm"
            )
        if request.dimensions is not None and request.dimensions != model.dimension:
            raise ValidationError(
                f"{PREFIX}{ref} gives {model.dimension}-dimensional vectors; "
                f"dimensions={request.dimensions} is not supported: omit it"
            )
        vectors = await asyncio.to_thread(model.embed, request.input)
        tokens = sum(approx_tokens(t) for t in request.input)
        return EmbeddingResponse(
            model=ref,
            vectors=vectors.tolist(),
            usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
            cost_usd=0.0,
        )

    # ------------------------------------------------------------------ listing

    async def list_models(self) -> list[ModelInfo]:
        return await asyncio.to_thread(self._list_models)

    def _list_models(self) -> list[ModelInfo]:
        infos = _builtin_infos()
        infos.extend(_memory_info(name, model) for name, model in sorted(self._memory.items()))
        for name in self.store.names():
            versions = self.store.versions(name)
            latest = versions[-1]
            infos.append(_saved_info(name, latest, f"latest saved version, now {latest.ref}"))
            infos.extend(
                _saved_info(m.ref, m, f"saved {m.created_at:%Y-%m-%d %H:%M} UTC") for m in versions
            )
        return infos


def _builtin_infos() -> list[ModelInfo]:
    def embedding(name: str, description: str) -> ModelInfo:
        return ModelInfo(
            id=PREFIX + name, provider="local", kind="embedding", description=description
        )

    infos = [
        embedding(DEFAULT_EMBEDDER, f"default embedder, here {PREFIX}{default_embedder_name()}"),
        embedding("hashed-embed", "hashed word+char n-grams projected to 384 floats (numpy)"),
    ]
    if minilm_available():
        infos.append(embedding("minilm", "all-MiniLM-L6-v2 (int8 ONNX), 384 floats"))
    return infos


def _memory_info(name: str, model: LocalModel) -> ModelInfo:
    if isinstance(model, TextModel):
        summary = f"in memory, {_summary(list(model.classes))}"
        return ModelInfo(id=PREFIX + name, provider="local", kind="chat", description=summary)
    return ModelInfo(
        id=PREFIX + name,
        provider="local",
        kind="embedding",
        description=f"in memory, {model.space}",
    )


def _saved_info(ref: str, manifest: ModelManifest, when: str) -> ModelInfo:
    kind: Literal["chat", "embedding"] = "embedding" if manifest.kind == "embedder" else "chat"
    description = f"{when}, {manifest.training_size} training texts, {_summary(manifest.classes)}"
    return ModelInfo(id=PREFIX + ref, provider="local", kind=kind, description=description)


def _summary(classes: list[str]) -> str:
    if not classes:
        return "embedder"
    shown = ", ".join(classes[:6]) + (", …" if len(classes) > 6 else "")
    return f"{len(classes)} labels: {shown}"


def _last_user_text(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            return message.text()
    raise ValidationError(
        "a local text model answers the last user message, and this request has none: "
        "add a message with role 'user'"
    )


def _content(reply: Reply, response_format: dict[str, Any] | None) -> str:
    """The rendered reply; a JSON object when the caller asked for JSON output."""
    if response_format and response_format.get("type") in _JSON_FORMATS:
        return json.dumps(
            {
                "label": reply.label,
                "probability": round(reply.probability, 4),
                "reply": reply.text if reply.templated else None,
            }
        )
    return reply.text


def _limit(content: str, max_tokens: int | None, stop: str | list[str] | None) -> tuple[str, str]:
    """Apply ``stop`` sequences and ``max_tokens`` (in whitespace words) as OpenAI would."""
    for sequence in [stop] if isinstance(stop, str) else (stop or []):
        if sequence and sequence in content:
            content = content[: content.index(sequence)]
    if max_tokens is not None and approx_tokens(content) > max_tokens:
        return " ".join(content.split()[:max_tokens]), "length"
    return content, "stop"


def _explain_top(value: Any) -> int:
    """``extra.explain``: true for the 10 strongest n-grams, or how many; 0 for none."""
    if value is None or value is False:
        return 0
    if value is True:
        return 10
    if isinstance(value, int) and 1 <= value <= 100:
        return value
    raise ValidationError(
        f"extra.explain must be true or a number of features from 1 to 100, got {value!r}"
    )
