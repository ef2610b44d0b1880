"""CORS for the end-user feedback endpoint only, so a browser app can post feedback.

Every other route stays same-origin: the UI is served by this server and API clients
are not browsers. Feedback is sent with a public key in the ``Authorization`` header
(never a cookie), so answers carry no ``Access-Control-Allow-Credentials``.
"""

from __future__ import annotations

import json
import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmloop.server.errors import error_body

FEEDBACK_PATH = re.compile(r"^/api/v1/projects/[^/]+/feedback/?$")
ALLOW_METHODS = "POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type"
EXPOSE_HEADERS = "Retry-After"
MAX_AGE_S = "600"


def parse_origins(setting: str) -> frozenset[str]:
    """``"*"`` or a comma-separated list of origins (``https://app.example.com``)."""
    return frozenset(o.strip().rstrip("/") for o in setting.split(",") if o.strip())


class FeedbackCors:
    """Pure ASGI: answers preflights and adds CORS headers on the feedback path."""

    def __init__(self, app: ASGIApp, allowed_origins: str) -> None:
        self.app = app
        self.origins = parse_origins(allowed_origins)
        self.any_origin = "*" in self.origins

    def _allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def _cors_headers(self, origin: str) -> dict[str, str]:
        if self.any_origin:
            return {"access-control-allow-origin": "*"}
        return {"access-control-allow-origin": origin, "vary": "Origin"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not FEEDBACK_PATH.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if preflight:
            await self._preflight(origin, headers, send)
            return
        if origin is None or not self._allowed(origin):
            await self.app(scope, receive, send)  # same-origin or server-side: no CORS headers
            return
        extra = {**self._cors_headers(origin), "access-control-expose-headers": EXPOSE_HEADERS}

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    response_headers[name] = value
            await send(message)

        await self.app(scope, receive, with_cors)

    async def _preflight(self, origin: str | None, headers: Headers, send: Send) -> None:
        method = headers["access-control-request-method"].upper()
        problem = None
        if origin is None or not self._allowed(origin):
            problem = (
                f"origin {origin!r} may not send feedback; add it to "
                "LLMLOOP_FEEDBACK_ALLOWED_ORIGINS"
            )
        elif method != "POST":
            problem = f"feedback is sent with POST, not {method}"
        if problem is not None:
            body = json.dumps(error_body("forbidden", problem)).encode()
            await _answer(send, 403, {"content-type": "application/json"}, body)
            return
        assert origin is not None
        answer = {
            **self._cors_headers(origin),
            "access-control-allow-methods": ALLOW_METHODS,
            "access-control-allow-headers": ALLOW_HEADERS,
            "access-control-max-age": MAX_AGE_S,
        }
        await _answer(send, 204, answer, b"")


async def _answer(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
