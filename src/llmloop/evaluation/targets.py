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
from typing import Any

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


def _template_fields(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as exc:
        raise ValidationError(f"prompt template {template!r} is malformed: {exc}") from None


@dataclass
class ModelTarget:
    """Chat with ``ref``. The user message is ``prompt`` formatted with the record's inputs
    (``"{question}"``), or the inputs' ``messages`` list, or their only field."""

    ref: str
    prompt: str | None = None
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ModelRef.parse(self.ref)
        if self.prompt is not None:
            _template_fields(self.prompt)

    @property
    def description(self) -> str:
        return self.ref

    def required_inputs(self, record: Record) -> list[str]:
        if self.prompt is not None:
            return _template_fields(self.prompt)
        if "messages" in record.inputs or len(record.inputs) == 1:
            return []
        raise ValidationError(
            f"record {record.id!r} has inputs {sorted(record.inputs)}: give a prompt template "
            "such as '{question}' to say how they make the message, or a 'messages' input"
        )

    def messages(self, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.prompt is not None:
            user = self.prompt.format_map(dict(inputs))
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
        messages = self.messages(inputs)
        if cache is None:
            cached, response = None, await providers.chat(self.ref, messages, **self.params)
        else:
            key = ResponseCache.key({"model": self.ref, "messages": messages, **self.params})
            cached = cache.get(key)
            response = cached or await providers.chat(self.ref, messages, **self.params)
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

    def required_inputs(self, record: Record) -> list[str]:
        return []

    async def answer(
        self, inputs: Mapping[str, Any], providers: ProviderRegistry, cache: ResponseCache | None
    ) -> Answer:
        raise AssertionError("RecordOutputs answers are taken from the records")


Target = ModelTarget | CallableTarget | RecordOutputs


def resolve_target(target: Any) -> Target:
    if target is None:
        return RecordOutputs()
    if isinstance(target, ModelTarget | CallableTarget | RecordOutputs):
        return target
    if isinstance(target, str):
        return ModelTarget(target)
    if callable(target):
        return CallableTarget(target)
    raise ValidationError(
        f"target {target!r} must be a model reference ('provider/name'), a ModelTarget, "
        "a callable, or None to score the records' own outputs"
    )
