"""Who is calling the gateway: bearer keys, authenticated once per key per few seconds.

The tenancy feature hashes the secret and reads the key per call. The gateway keeps the
answer (a principal, or "no such key") for ``gateway_auth_ttl_s`` seconds, so the hot
path never touches the database; a revoked key stops working within that TTL.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from llmloop.errors import AuthenticationError, LlmloopError
from llmloop.gateway.errors import GatewayError
from llmloop.tenancy import Principal, Tenancy

__all__ = ["AuthCache", "bearer"]

_MAX_ENTRIES = 10_000


def bearer(header: bytes | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        return None
    scheme, _, token = header.decode("latin-1").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class AuthCache:
    def __init__(self, tenancy: Tenancy, ttl_s: float = 5.0) -> None:
        self.tenancy = tenancy
        self.ttl_s = ttl_s
        # digest -> (expires at, principal or the error to answer)
        self._entries: dict[str, tuple[float, Principal | GatewayError]] = {}
        self.lookups = 0

    async def principal(self, secret: str | None) -> Principal:
        """The caller's principal; GatewayError 401/403 in the OpenAI format otherwise."""
        if not secret:
            raise GatewayError(
                401,
                "missing API key: send 'Authorization: Bearer <llmloop key>' (the openai "
                "SDK's api_key); create one with `llmloop keys create`",
                code="invalid_api_key",
            )
        digest = hashlib.sha256(secret.encode()).hexdigest()
        now = time.monotonic()
        entry = self._entries.get(digest)
        if entry is None or entry[0] <= now:
            entry = (now + self.ttl_s, await self._lookup(secret))
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= _MAX_ENTRIES:
                    self._entries.clear()
            self._entries[digest] = entry
        found = entry[1]
        if isinstance(found, GatewayError):
            raise found
        return found

    async def _lookup(self, secret: str) -> Principal | GatewayError:
        self.lookups += 1
        try:
            principal = await asyncio.to_thread(self.tenancy.authenticate, secret)
        except AuthenticationError as exc:
            return GatewayError(401, exc.message, code="invalid_api_key")
        except LlmloopError as exc:
            return GatewayError(exc.status, exc.message, code=exc.code)
        if principal.public:
            return GatewayError(
                403,
                "a public ingestion key may only send end-user feedback; call the gateway "
                "with a project key",
                code="public_key",
            )
        return principal

    def forget(self) -> None:
        self._entries.clear()
