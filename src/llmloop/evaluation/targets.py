"""What an evaluation runs: a model reference, any Python callable, or nothing (score the
records' own outputs). Each target turns one record's inputs into an :class:`Answer`."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from llmloop.errors import ValidationError
from llmloop.providers.base import ChatResponse
from llmloop.providers.registry import ModelRef, ProviderRegistry
from llmloop.records import Record


@dataclass(frozen=True, slots=True)
class Answer:
    outputs: dict[str, Any]
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    cached: bool = False


class ResponseCache:
    """Model answers on disk, one JSON file per request digest, under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def key(request: Mapping[str, Any]) -> str:
        payload = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> ChatResponse | None:
        path = self._path(key)
        if not path.is_file():
            return None
        return ChatResponse.model_validate_json(path.read_bytes())

    def put(self, key: str, response: ChatResponse) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(response.model_dump_json())
        tmp.replace(path)  # atomic: a reader never sees half a file


TemplateKind = Literal["format", "jinja"]
_JINJA = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def _template_fields(template: str, kind: TemplateKind = "format") -> list[str]:
    """The input fields a template reads: ``{question}`` or, for Jinja2, ``{{ question }}``."""
    try:
        if kind == "jinja":
            return sorted(meta.find_undeclared_variables(_JINJA.parse(template)))
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except (ValueError, jinja2.TemplateSyntaxError) as exc:
        raise ValidationError(f"prompt template {template!r} is malformed: {exc}") from None


def render(template: str, inputs: Mapping[str, Any], kind: TemplateKind = "format") -> str:
    """The template filled with ``inputs``; Jinja2 templates run sandboxed."""
    if kind == "jinja":
        try:
            return _JINJA.from_string(template).render(dict(inputs))
        except jinja2.TemplateError as exc:
            raise ValidationError(f"prompt template failed: {exc}") from None
    return template.format_map(dict(inputs))


@dataclass
class ModelTarget:
    """Chat with ``ref``. The user message is ``prompt`` formatted with the record's inputs
    (``"{question}"``, or ``"{{ question }}"`` with ``template="jinja"``, sandboxed), or
    the inputs' ``messages`` list, or their only field."""

    ref: str
    prompt: str | None = None
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    template: TemplateKind = "format"

    def __post_init__(self) -> None:
        ModelRef.parse(self.ref)
        if self.template not in ("format", "jinja"):
            raise ValidationError(f"template must be 'format' or 'jinja', not {self.template!r}")
        if self.prompt is not None:
            _template_fields(self.prompt, self.template)

    @property
    def description(self) -> str:
        return self.ref

    def spec(self) -> dict[str, Any]:
        """What rebuilds this target when a stored run is resumed."""
        return {
            "kind": "model",
            "ref": self.ref,
            "prompt": self.prompt,
            "system": self.system,
            "params": self.params,
            "template": self.template,
        }

    def static_inputs(self) -> list[str] | None:
        """Input fields every record needs, or None when it depends on the record."""
        return None if self.prompt is None else _template_fields(self.prompt, self.template)

    def required_inputs(self, record: Record) -> list[str]:
        if self.prompt is not None:
            return _template_fields(self.prompt, self.template)
        if "messages" in record.inputs or len(record.inputs) == 1:
            return []
        raise ValidationError(
            f"record {record.id!r} has inputs {sorted(record.inputs)}: give a prompt template "
            "such as '{question}' to say how they make the message, or a 'messages' input"
        )

    def messages(self, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.prompt is not None:
            user = render(self.prompt, inputs, self.template)
        elif "messages" in inputs:
            return [*self._system(), *inputs["messages"]]
        else:
            (value,) = inputs.values()
            user = value if isinstance(value, str) else json.dumps(value, default=str)
        return [*self._system(), {"role": "user", "content": user}]

    def _system(self) -> list[dict[str, Any]]:
        return [{"role": "system", "content": self.system}] if self.system else []

    async def answer(
        self, inputs: Mapping[str, Any], providers: ProviderRegistry, cache: ResponseCache | None
    ) -> Answer:
        return await chat_answer(providers, cache, self.ref, self.messages(inputs), self.params)


async def chat_answer(
    providers: ProviderRegistry,
    cache: ResponseCache | None,
    ref: str,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
) -> Answer:
    """Ask ``ref``, through the response cache (keyed by the whole request) when given."""
    if cache is None:
        cached, response = None, await providers.chat(ref, messages, **params)
    else:
        key = ResponseCache.key({"model": ref, "messages": messages, **params})
        cached = cache.get(key)
        response = cached or await providers.chat(ref, messages, **params)
        if cached is None:
            cache.put(key, response)
    outputs: dict[str, Any] = {**response.extra, "text": response.text}
    return Answer(
        outputs=outputs,
        latency_ms=response.latency_ms,
        prompt_tokens=response.usage.prompt_tokens,
        completion_tokens=response.usage.completion_tokens,
        cost_usd=response.cost_usd,
        cached=cached is not None,
    )


@dataclass
class CallableTarget:
    """Any function of the record's inputs (a dict), sync or async.

    It returns a string (stored as ``{"text": ...}``), a dict of outputs, or a
    :class:`~llmloop.providers.base.ChatResponse`; anything else is stored as ``{"output": ...}``.
    Sync functions run in a worker thread so they never block other records.
    """

    fn: Callable[[dict[str, Any]], Any]

    @property
    def description(self) -> str:
        name = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        return f"callable:{getattr(self.fn, '__module__', '?')}.{name}"

    def spec(self) -> dict[str, Any]:
        return {"kind": "callable", "description": self.description}

    def static_inputs(self) -> list[str] | None:
        return []

    def required_inputs(self, record: Record) -> list[str]:
        return []

    async def answer(
        self, inputs: Mapping[str, Any], providers: ProviderRegistry, cache: ResponseCache | None
    ) -> Answer:
        start = time.perf_counter()
        if inspect.iscoroutinefunction(self.fn):
            value = await self.fn(dict(inputs))
        else:
            value = await asyncio.to_thread(self.fn, dict(inputs))
            if inspect.isawaitable(value):
                value = await value
        elapsed = (time.perf_counter() - start) * 1000
        if isinstance(value, ChatResponse):
            return Answer(
                outputs={**value.extra, "text": value.text},
                latency_ms=value.latency_ms or elapsed,
                prompt_tokens=value.usage.prompt_tokens,
                completion_tokens=value.usage.completion_tokens,
                cost_usd=value.cost_usd,
            )
        if isinstance(value, str):
            outputs: dict[str, Any] = {"text": value}
        elif isinstance(value, dict):
            outputs = value
        else:
            outputs = {"output": value}
        return Answer(outputs=outputs, latency_ms=elapsed)


@dataclass
class RecordOutputs:
    """No target: score the outputs the records already carry (e.g. traces)."""

    @property
    def description(self) -> str:
        return "record-outputs"

    def spec(self) -> dict[str, Any]:
        return {"kind": "record-outputs"}

    def static_inputs(self) -> list[str] | None:
        return []

    def required_inputs(self, record: Record) -> list[str]:
        return []

    async def answer(
        self, inputs: Mapping[str, Any], providers: ProviderRegistry, cache: ResponseCache | None
    ) -> Answer:
        raise AssertionError("RecordOutputs answers are taken from the records")


@dataclass
class RenderedTarget:
    """A stored prompt version, or a deployment's serving version: chat messages rendered
    from the record's inputs by ``render``, sent to ``model`` with ``params``."""

    description: str
    model: str
    render: Callable[[Mapping[str, Any]], list[dict[str, Any]]]
    params: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    stored: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        return self.stored

    def static_inputs(self) -> list[str] | None:
        return self.inputs

    def required_inputs(self, record: Record) -> list[str]:
        return self.inputs

    async def answer(
        self, inputs: Mapping[str, Any], providers: ProviderRegistry, cache: ResponseCache | None
    ) -> Answer:
        return await chat_answer(providers, cache, self.model, self.render(inputs), self.params)


Target = ModelTarget | CallableTarget | RecordOutputs | RenderedTarget


def target_from_spec(spec: Mapping[str, Any]) -> Target:
    """The target a stored run was evaluated with (callables cannot be rebuilt)."""
    kind = spec.get("kind")
    if kind == "model":
        return ModelTarget(
            spec["ref"],
            prompt=spec.get("prompt"),
            system=spec.get("system"),
            params=dict(spec.get("params") or {}),
            template=spec.get("template") or "format",
        )
    if kind == "record-outputs":
        return RecordOutputs()
    raise ValidationError(
        f"this run's target ({spec.get('description') or kind}) is a Python callable; resume "
        "it from Python with evaluate(fn, records, scorers, resume=<run id>)"
    )


def resolve_target(target: Any) -> Target:
    if target is None:
        return RecordOutputs()
    if isinstance(target, ModelTarget | CallableTarget | RecordOutputs | RenderedTarget):
        return target
    if isinstance(target, str):
        return ModelTarget(target)
    if callable(target):
        return CallableTarget(target)
    raise ValidationError(
        f"target {target!r} must be a model reference ('provider/name'), a ModelTarget, "
        "a callable, or None to score the records' own outputs"
    )
