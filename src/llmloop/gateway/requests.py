"""Checks of incoming gateway requests, naming the field at fault.

Hand-written rather than a pydantic model: this runs on every call and only needs to
reject what an upstream would choke on, with OpenAI's ``param`` naming the field
(``messages[1].role``). Unknown fields pass through to the upstream unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from llmloop.gateway.errors import GatewayError, invalid

__all__ = ["CallMeta", "parse_body", "validate_chat", "validate_embeddings"]

ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function"})
# fields llmloop reads and does not forward to the upstream
LOCAL_FIELDS = ("variables",)


@dataclass(frozen=True, slots=True)
class CallMeta:
    """Who the call is for, from the body and the headers."""

    user: str | None
    session: str | None
    environment: str | None
    variables: dict[str, Any] | None


def parse_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise invalid("the request body is empty; send a JSON object", None, "invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"the request body is not valid JSON: {exc}", None, "invalid_json") from None
    if not isinstance(body, dict):
        raise invalid(
            f"the request body must be a JSON object, not {type(body).__name__}",
            None,
            "invalid_json",
        )
    return body


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid(
            "'model' is required: a model such as 'openai/gpt-4o-mini' or a deployment "
            "such as 'deployment/ticket-triage'",
            "model",
            "missing_required_parameter" if model is None else "invalid_type",
        )
    return model


def _number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"'{name}' must be a number, not {value!r}", name, "invalid_type")
    if not low <= value <= high:
        raise invalid(f"'{name}' must be between {low:g} and {high:g}, not {value!r}", name)


def _positive_int(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid(f"'{name}' must be a positive integer, not {value!r}", name)


def _messages(messages: Any, *, required: bool) -> None:
    if messages is None and not required:
        return
    if not isinstance(messages, list) or (required and not messages):
        raise invalid(
            "'messages' must be a non-empty list of {'role': ..., 'content': ...} objects",
            "messages",
            "missing_required_parameter" if messages is None else "invalid_type",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages[{i}] must be an object", f"messages[{i}]", "invalid_type")
        role = message.get("role")
        if role not in ROLES:
            raise invalid(
                f"messages[{i}].role is {role!r}; use one of {', '.join(sorted(ROLES))}",
                f"messages[{i}].role",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise invalid(
                f"messages[{i}].content must be a string, a list of parts or null",
                f"messages[{i}].content",
                "invalid_type",
            )


def _meta(body: dict[str, Any], environment: str | None, session: str | None) -> CallMeta:
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise invalid("'user' must be a string", "user", "invalid_type")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise invalid("'metadata' must be an object", "metadata", "invalid_type")
    if metadata:
        user = user or _text(metadata.get("user_id"))
        session = session or _text(metadata.get("session_id"))
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise invalid(
            "'variables' must be an object of template variables", "variables", "invalid_type"
        )
    return CallMeta(user or None, session or None, environment or None, variables)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def validate_chat(
    body: dict[str, Any], *, environment: str | None = None, session: str | None = None
) -> tuple[str, CallMeta]:
    """The model name and call metadata of a chat request; GatewayError when invalid."""
    model = _model(body)
    deployment = model.startswith("deployment/")
    _messages(body.get("messages"), required=not deployment)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid(f"'stream' must be true or false, not {stream!r}", "stream", "invalid_type")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise invalid("'stream_options' must be an object", "stream_options", "invalid_type")
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    for name in ("max_tokens", "max_completion_tokens", "n"):
        _positive_int(body, name)
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise invalid("'stop' must be a string or a list of strings", "stop", "invalid_type")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise invalid("'tools' must be a list", "tools", "invalid_type")
    return model, _meta(body, environment, session)


def validate_embeddings(body: dict[str, Any]) -> str:
    model = _model(body)
    raw = body.get("input")
    ok = isinstance(raw, str) or (
        isinstance(raw, list)
        and len(raw) > 0
        and (all(isinstance(x, str) for x in raw) or all(isinstance(x, int) for x in raw))
    )
    if not ok:
        raise invalid(
            "'input' must be a string or a non-empty list of strings",
            "input",
            "missing_required_parameter" if raw is None else "invalid_type",
        )
    _positive_int(body, "dimensions")
    return model


def too_large(max_bytes: int) -> GatewayError:
    return GatewayError(
        413,
        f"request body larger than {max_bytes} bytes (raise LLMLOOP_MAX_REQUEST_BYTES)",
        code="request_too_large",
    )
