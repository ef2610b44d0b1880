"""Errors a user can act on.

Every error raised on purpose by llmloop derives from :class:`LlmloopError`. Each carries
a stable ``code`` and an HTTP ``status`` so the server maps it to one JSON error shape and
the CLI prints it and exits non-zero, without either knowing the concrete classes.
"""

from __future__ import annotations

from typing import Any


class LlmloopError(Exception):
    """Base class: a message that says what was wrong and what to do."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class SettingsError(LlmloopError):
    code = "invalid_setting"
    status = 500


class StoreError(LlmloopError):
    code = "store_error"
    status = 500


class SchemaTooNewError(StoreError):
    code = "schema_too_new"


class ValidationError(LlmloopError):
    code = "invalid_request"
    status = 422


class NotFoundError(LlmloopError):
    code = "not_found"
    status = 404


class ConflictError(LlmloopError):
    code = "conflict"
    status = 409


class AuthenticationError(LlmloopError):
    code = "unauthenticated"
    status = 401


class PermissionDeniedError(LlmloopError):
    code = "forbidden"
    status = 403


class UnknownModelError(LlmloopError):
    code = "unknown_model"
    status = 400


class ProviderError(LlmloopError):
    """An upstream model provider failed after retries.

    ``kind`` classifies the failure (``rate_limit``, ``server``, ``timeout``, ``connection``,
    ``context_window``, ``content_policy``, ``auth``, ``not_found``, ``bad_request``; see
    :class:`llmloop.providers.transport.ErrorKind`) so a gateway can decide on fallbacks.
    """

    code = "provider_error"
    status = 502

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        kind: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, details=details)
        self.upstream_status = upstream_status
        self.kind = kind


class RemoteError(LlmloopError):
    """An error answered by a llmloop server, re-raised on the SDK side."""

    def __init__(self, message: str, *, code: str, status: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.code = code
        self.status = status
