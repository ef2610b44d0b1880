"""Small helpers for the raw ASGI routes served ahead of the FastAPI stack."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.types import Receive


async def read_body(
    receive: Receive, max_bytes: int, too_large: Callable[[int], Exception]
) -> bytes:
    """The request body, refused with ``too_large(max_bytes)`` as soon as it grows past it.

    A client that disconnects while sending cancels the caller.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise too_large(max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
