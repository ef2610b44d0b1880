"""HTTP plumbing for the SDK: error mapping and the in-process transport.

Without a server URL the SDK serves the same FastAPI app inside the process, reached
through :class:`InProcessTransport`, so local and remote use one code path and behave
the same, down to validation errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any

import anyio.from_thread
import httpx

from llmloop import errors

_ERRORS_BY_CODE: dict[str, type[errors.LlmloopError]] = {
    cls.code: cls
    for cls in (
        errors.ValidationError,
        errors.NotFoundError,
        errors.ConflictError,
        errors.AuthenticationError,
        errors.PermissionDeniedError,
        errors.UnknownModelError,
        errors.ProviderError,
        errors.SchemaTooNewError,
    )
}


def raise_for_error(response: httpx.Response) -> None:
    """Turn an error response into the same exception type the local code raises."""
    if response.is_success:
        return
    try:
        body = response.json()
        error = body["error"]
        code, message, details = error["code"], error["message"], error.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", response.text[:500] or response.reason_phrase, None
    cls = _ERRORS_BY_CODE.get(code)
    if cls is not None and cls is not errors.ProviderError:
        raise cls(message, details=details)
    raise errors.RemoteError(message, code=code, status=response.status_code, details=details)


class InProcessTransport(httpx.BaseTransport):
    """A sync httpx transport that runs an ASGI app on a private event-loop thread."""

    def __init__(self, app: Any, *, on_close: Callable[[], Awaitable[None]] | None = None) -> None:
        self._async = httpx.ASGITransport(app=app)
        self._on_close = on_close
        self._stack = ExitStack()
        self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            async_request = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._async.handle_async_request(async_request)
            content = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
            return response.status_code, response.headers.raw, content

        status, headers, content = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        """Run the app's clean-up (closing provider connections) on its loop, then stop it."""
        try:
            if self._on_close is not None:
                self._portal.call(self._on_close)
        finally:
            self._stack.close()
