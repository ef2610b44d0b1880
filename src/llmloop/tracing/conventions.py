"""Attribute names of the common LLM tracing conventions, mapped onto one schema.

Sources, in order of preference for each field:

* OpenTelemetry GenAI semantic conventions (``gen_ai.*``), current and older names;
* OpenInference (Arize Phoenix: ``llm.*``, ``input.value``, ``openinference.span.kind``);
* OpenLLMetry (Traceloop: ``traceloop.*``, ``llm.usage.*``, ``gen_ai.prompt.N.*``);
* llmloop's own SDK (``llmloop.*``).

:func:`extract` reads one span's flat attribute dict and returns the schema fields it
found; everything else stays in the span's ``attributes`` untouched.
"""

from __future__ import annotations

import json
import re
from typing import Any

MODEL_KEYS = (
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
    "llm.response.model",
    "llm.request.model",
)
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
INPUT_TOKEN_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
USER_KEYS = ("llmloop.user_id", "user.id", "enduser.id", "traceloop.association.properties.user_id")
SESSION_KEYS = (
    "llmloop.session_id",
    "session.id",
    "gen_ai.conversation.id",
    "traceloop.association.properties.session_id",
)
TAG_KEYS = ("llmloop.tags", "tag.tags")
INPUT_KEYS = (
    "llmloop.inputs",
    "gen_ai.input.messages",
    "input.value",
    "traceloop.entity.input",
    "gen_ai.prompt",
)
OUTPUT_KEYS = (
    "llmloop.outputs",
    "gen_ai.output.messages",
    "output.value",
    "traceloop.entity.output",
    "gen_ai.completion",
)
# Flattened message lists: gen_ai.prompt.0.role, llm.input_messages.0.message.content, …
INPUT_MESSAGE_PREFIXES = ("gen_ai.prompt.", "llm.input_messages.")
OUTPUT_MESSAGE_PREFIXES = ("gen_ai.completion.", "llm.output_messages.")

_KIND_BY_ATTRIBUTE = {
    # OpenInference span kinds
    "llm": "llm",
    "chain": "chain",
    "tool": "tool",
    "retriever": "retriever",
    "embedding": "embedding",
    "agent": "agent",
    "reranker": "reranker",
    "guardrail": "guardrail",
    "evaluator": "chain",
    # OpenLLMetry (traceloop.span.kind)
    "workflow": "chain",
    "task": "chain",
    # GenAI gen_ai.operation.name
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "embedding",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    # llmloop
    "span": "span",
}
KIND_KEYS = (
    "llmloop.span.kind",
    "openinference.span.kind",
    "traceloop.span.kind",
    "gen_ai.operation.name",
)
_MESSAGE_KEY = re.compile(r"^(\d+)\.(?:message\.)?(.+)$")


def first(attributes: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


def as_int(value: Any) -> int:
    if isinstance(value, bool) or value is None:
        return 0
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def maybe_json(value: Any) -> Any:
    """A JSON string (``input.value`` with a JSON mime type, ``gen_ai.input.messages``)
    decoded; other values unchanged."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def kind_of(attributes: dict[str, Any]) -> str:
    for key in KIND_KEYS:
        value = attributes.get(key)
        if isinstance(value, str) and value.lower() in _KIND_BY_ATTRIBUTE:
            return _KIND_BY_ATTRIBUTE[value.lower()]
    return "llm" if first(attributes, MODEL_KEYS) is not None else "span"


def messages(attributes: dict[str, Any], prefixes: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rebuild a flattened message list (``gen_ai.prompt.0.role`` …), in index order."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                match = _MESSAGE_KEY.match(key[len(prefix) :])
                if match:
                    found.setdefault(int(match.group(1)), {})[match.group(2)] = value
                break
    return [found[i] for i in sorted(found)]


def tags_of(attributes: dict[str, Any]) -> list[str]:
    value = maybe_json(first(attributes, TAG_KEYS))
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return sorted({str(t).strip()[:200] for t in items if str(t).strip()})


def extract(attributes: dict[str, Any]) -> dict[str, Any]:
    """The schema fields found in ``attributes`` (see the module docstring)."""
    inputs = maybe_json(first(attributes, INPUT_KEYS))
    if inputs is None:
        inputs = messages(attributes, INPUT_MESSAGE_PREFIXES) or None
    outputs = maybe_json(first(attributes, OUTPUT_KEYS))
    if outputs is None:
        outputs = messages(attributes, OUTPUT_MESSAGE_PREFIXES) or None
    return {
        "kind": kind_of(attributes),
        "model": as_text(first(attributes, MODEL_KEYS)),
        "provider": as_text(first(attributes, PROVIDER_KEYS)),
        "input_tokens": as_int(first(attributes, INPUT_TOKEN_KEYS)),
        "output_tokens": as_int(first(attributes, OUTPUT_TOKEN_KEYS)),
        "user_id": as_text(first(attributes, USER_KEYS)),
        "session_id": as_text(first(attributes, SESSION_KEYS)),
        "tags": tags_of(attributes),
        "inputs": inputs,
        "outputs": outputs,
    }
