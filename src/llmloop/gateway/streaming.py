"""Relaying an upstream's SSE stream to the caller, and reading it for the trace.

Events are forwarded as they arrive. On the way the relay collects the answer's text,
finish reason, model and usage for the trace and the limits. The gateway always asks
the upstream for usage; when the caller did not, the usage-only event is not forwarded
(clients that index ``choices[0]`` would fail on it). An error after the stream started
is sent as an OpenAI error event and ends the stream; a caller going away stops it,
which closes the upstream connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from llmloop.gateway.traces import CallRecord
from llmloop.gateway.upstreams import DONE, UpstreamError

__all__ = ["StreamRelay"]


def _frame(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


class StreamRelay:
    def __init__(
        self,
        events: AsyncIterator[bytes],
        first: bytes,
        wants_usage: bool,
        record: CallRecord,
    ) -> None:
        self.events = events
        self.first = first
        self.wants_usage = wants_usage
        self.record = record
        self.text: list[str] = []
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.usage: dict[str, Any] = {}
        self.chunks = 0
        self.on_done: Callable[[StreamRelay], None] | None = None

    def _read(self, payload: bytes) -> bool:
        """Note what the event says; False when it is not to be forwarded."""
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return True
        if not isinstance(event, dict):
            return True
        if "error" in event:
            error = event["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            self.record.status, self.record.message = "error", str(message)[:1000]
            return True
        self.chunks += 1
        if self.model is None and isinstance(event.get("model"), str):
            self.model = event["model"]
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        choices = event.get("choices")
        if not choices:
            return self.wants_usage or not isinstance(usage, dict)
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str):
                self.text.append(content)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return True

    async def frames(self) -> AsyncIterator[bytes]:
        record = self.record
        try:
            if self.first == DONE or self._read(self.first):
                yield _frame(self.first)
            async for payload in self.events:
                if payload == DONE:
                    yield _frame(payload)
                    continue
                if self._read(payload):
                    yield _frame(payload)
        except UpstreamError as exc:
            failure = exc.failure
            record.status, record.message = "error", f"stream broken: {failure.message}"[:1000]
            record.attributes["llmloop.error.kind"] = failure.kind.value
            error = {
                "message": f"the upstream stream broke off: {failure.message}",
                "type": "api_error",
                "param": None,
                "code": "upstream_stream_broken",
            }
            yield _frame(orjson.dumps({"error": error}))
        except (asyncio.CancelledError, GeneratorExit):
            record.status, record.message = "error", "the client disconnected mid-stream"
            record.attributes["llmloop.client_disconnected"] = True
            raise
        finally:
            await self.events.aclose()  # type: ignore[attr-defined]
            record.outputs = {
                "role": "assistant",
                "content": "".join(self.text),
                "finish_reason": self.finish_reason,
            }
            if self.on_done is not None:
                self.on_done(self)
