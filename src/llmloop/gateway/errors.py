"""Gateway errors in the OpenAI error format: ``{"error": {message, type, param, code}}``.

OpenAI clients (the ``openai`` SDK, LangChain, curl scripts) read this shape, so every
answer the gateway gives that is not a success uses it, including 401, 404 and 429.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmloop.errors import LlmloopError, ProviderError
from llmloop.providers.transport import ErrorKind

__all__ = ["GatewayError", "from_llmloop_error", "from_provider_error"]

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class GatewayError(Exception):
    """A failure answered to the caller; ``param`` names the request field at fault."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,  # the OpenAI field name
        headers: dict[str, str] | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type or _TYPES.get(status, "api_error")
        self.headers = headers or {}
        self.kind = kind  # the upstream failure kind, for traces

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.body())


def invalid(message: str, param: str | None, code: str = "invalid_value") -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


_BY_KIND: dict[str, tuple[int, str, str]] = {
    ErrorKind.RATE_LIMIT: (429, "rate_limit_error", "upstream_rate_limited"),
    ErrorKind.SERVER: (502, "api_error", "upstream_error"),
    ErrorKind.CONNECTION: (502, "api_error", "upstream_unreachable"),
    ErrorKind.TIMEOUT: (504, "api_error", "upstream_timeout"),
    ErrorKind.CONTEXT_WINDOW: (400, "invalid_request_error", "context_length_exceeded"),
    ErrorKind.CONTENT_POLICY: (400, "invalid_request_error", "content_policy_violation"),
    ErrorKind.AUTH: (502, "api_error", "upstream_auth_failed"),
    ErrorKind.NOT_FOUND: (404, "invalid_request_error", "model_not_found"),
    ErrorKind.BAD_REQUEST: (400, "invalid_request_error", "upstream_rejected_request"),
}


def from_provider_error(exc: ProviderError) -> GatewayError:
    status, kind_type, code = _BY_KIND.get(exc.kind or "", (502, "api_error", "upstream_error"))
    headers: dict[str, str] = {}
    details = exc.details if isinstance(exc.details, dict) else {}
    retry_after = details.get("retry_after_s")
    if status == 429 and retry_after is not None:
        headers["retry-after"] = str(max(1, round(float(retry_after))))
    param = "model" if code == "model_not_found" else None
    return GatewayError(
        status, exc.message, code=code, param=param, type=kind_type, headers=headers, kind=exc.kind
    )


def from_llmloop_error(exc: LlmloopError) -> GatewayError:
    if isinstance(exc, ProviderError):
        return from_provider_error(exc)
    status = 400 if exc.status == 422 else exc.status
    code = "model_not_found" if exc.code in ("not_found", "unknown_model") else exc.code
    if exc.code == "unknown_model":
        status = 404
    param = "model" if code == "model_not_found" else None
    if isinstance(exc.details, list) and exc.details and isinstance(exc.details[0], dict):
        param = exc.details[0].get("field") or param
    return GatewayError(status, exc.message, code=code, param=param)
