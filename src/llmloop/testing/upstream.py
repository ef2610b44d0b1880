"""A scripted OpenAI-compatible upstream on loopback, for tests and benchmarks.

It speaks real HTTP/1.1 (keep-alive, SSE streaming) on ``127.0.0.1`` and an ephemeral
port, so the real ``openai`` SDK, our providers and our gateway can be tested against it
without patching anything::

    with ScriptedUpstream() as up:
        up.script(status=429, headers={"Retry-After": "1"})
        up.script(reply="hello", usage={"prompt_tokens": 3, "completion_tokens": 1})
        client = openai.OpenAI(base_url=up.base_url, api_key="test")
        ...
        assert len(up.requests) == 2

Endpoints: ``POST /v1/chat/completions`` (JSON or SSE with ``data: [DONE]``, tool calls,
usage and ``stream_options.include_usage``), ``POST /v1/embeddings`` (deterministic
vectors from the words of the text; ``float`` or ``base64``), ``GET /v1/models``. Any path
prefix works (``/openai/v1/chat/completions`` is served too).

Without a script the upstream echoes the last user message, or answers a fixed reply
(``ScriptedUpstream(reply=...)``). Scripted responses are used once each, first come first
served, among those whose ``match`` (a substring of the last user message), ``model`` and
``endpoint`` fit the request. A separate process serves the same thing::

    python -m llmloop.testing.upstream --port 8900 [--reply TEXT] [--latency-ms N]

and is programmable over HTTP: ``POST /_upstream/script`` (a JSON object with the
arguments of :meth:`ScriptedUpstream.script`), ``POST /_upstream/reset``,
``GET /_upstream/requests``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import math
import re
import signal
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal

try:
    import uvloop
except ImportError:  # uvloop is optional (absent on Windows); the stdlib loop also works.
    uvloop = None  # type: ignore[assignment]

__all__ = ["ReceivedRequest", "ScriptedResponse", "ScriptedUpstream", "embed_text"]

Endpoint = Literal["chat", "embeddings", "models", "any"]

_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
_WORD = re.compile(r"\w+")
_PIECE = re.compile(r"\s*\S+")
_MAX_HEAD = 1 << 20


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def count_tokens(text: str) -> int:
    """The upstream's token count: whitespace-separated words."""
    return len(text.split())


def _hash(text: str) -> int:
    raw = text.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little")


def embed_text(text: str, dimensions: int = 16) -> list[float]:
    """A deterministic unit vector from the words of ``text`` (feature hashing).

    Texts sharing words get a high cosine similarity, so retrieval tests behave sensibly.
    """
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = _hash(word)
        vector[digest % dimensions] += 1.0 if (digest >> 32) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:  # no words, or words that cancel out: one axis chosen by the whole text
        vector[_hash(text) % dimensions], norm = 1.0, 1.0
    return [v / norm for v in vector]


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the upstream received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    """``time.monotonic()`` on arrival, to assert waits between attempts."""

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def last_user_message(self) -> str:
        return _last_user_text(self.body)


@dataclass
class ScriptedResponse:
    """What the upstream answers to one matching request. See :meth:`ScriptedUpstream.script`."""

    reply: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0
    error: dict[str, Any] | None = None
    chunks: list[str] | None = None
    chunk_delay_ms: float = 0.0
    usage: dict[str, int] | None = None
    finish_reason: str | None = None
    match: str | None = None
    model: str | None = None
    endpoint: Endpoint = "chat"
    times: int | None = 1
    drop: bool = False
    disconnect_after: int | None = None
    stream_error: dict[str, Any] | None = None
    body: dict[str, Any] | None = None

    def fits(self, endpoint: str, body: Any) -> bool:
        if self.endpoint not in ("any", endpoint):
            return False
        if self.model is not None and (
            not isinstance(body, dict) or body.get("model") != self.model
        ):
            return False
        return self.match is None or self.match in _last_user_text(body)


def _last_user_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    raw = body.get("input")
    if isinstance(raw, str):
        return raw
    return " ".join(x for x in raw if isinstance(x, str)) if isinstance(raw, list) else ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _normalize_tool_calls(calls: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if calls is None:
        return None
    out = []
    for i, call in enumerate(calls):
        function = call.get("function", call)
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"tool_calls[{i}] = {call!r} has no function name; give "
                "{'name': 'get_weather', 'arguments': {'city': 'Paris'}} or the OpenAI shape"
            )
        arguments = function.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        call_id = call.get("id") or f"call_{i}_{name}"
        out.append(
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        )
    return out


def _error_body(status: int, error: dict[str, Any] | None) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    base = {
        "message": f"scripted upstream error {status}",
        "type": kind,
        "param": None,
        "code": None,
    }
    return {"error": {**base, **(error or {})}}


@dataclass(slots=True)
class _HttpRequest:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


class _Malformed(Exception):
    """The client sent something that is not HTTP/1.1."""


async def _read_request(reader: asyncio.StreamReader) -> _HttpRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _Malformed("connection closed inside the request head") from None
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise _Malformed(f"bad request line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    try:
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(reader)
        else:
            body = b""
    except ValueError as exc:
        raise _Malformed(f"bad body framing: {exc}") from None
    return _HttpRequest(parts[0], parts[1].split("?", 1)[0], parts[2], headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _head(status: int, headers: dict[str, str], keep_alive: bool, length: int | None) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    lines.append(
        f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    )
    if not keep_alive:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _sse(payload: bytes) -> bytes:
    data = b"data: " + payload + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Exchange:
    """One request being answered: writes plain or streamed responses."""

    def __init__(self, request: _HttpRequest, writer: asyncio.StreamWriter) -> None:
        self.request = request
        self.writer = writer
        self.keep_alive = request.keep_alive
        self._buffer = bytearray()  # streamed events not written yet: one write per burst

    async def json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = _dumps(body)
        all_headers = {"content-type": "application/json", **(headers or {})}
        self.writer.write(_head(status, all_headers, self.keep_alive, len(payload)) + payload)
        await self.writer.drain()

    async def start_stream(self, headers: dict[str, str]) -> None:
        all_headers = {"content-type": "text/event-stream", "cache-control": "no-cache", **headers}
        self._buffer += _head(200, all_headers, self.keep_alive, None)

    async def event(self, payload: bytes, delay_s: float = 0.0) -> None:
        """Queue one SSE event; with a delay, send what is queued and wait first."""
        if delay_s:
            await self.flush()
            await asyncio.sleep(delay_s)
        self._buffer += _sse(payload)

    async def flush(self) -> None:
        if self._buffer:
            self.writer.write(bytes(self._buffer))
            self._buffer.clear()
        await self.writer.drain()

    async def end_stream(self) -> None:
        self._buffer += _sse(b"[DONE]") + b"0\r\n\r\n"
        await self.flush()

    def drop(self) -> None:
        self.keep_alive = False
        self.writer.transport.abort()


Handler = Callable[[_Exchange, Any], Awaitable[None]]


class ScriptedUpstream:
    """A programmable OpenAI-compatible server on loopback; see the module docstring."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reply: str | None = None,
        latency_ms: float = 0.0,
        models: list[str] | None = None,
        embedding_dimensions: int = 16,
        log_limit: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.default_reply = reply
        self.default_latency_ms = latency_ms
        self.models = list(models or ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"])
        self.embedding_dimensions = embedding_dimensions
        self._log: deque[ReceivedRequest] = deque(maxlen=log_limit)
        self._queue: list[ScriptedResponse] = []
        self._lock = threading.Lock()
        self._counter = 0
        self.client_gone = 0
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- programming -------------------------------------------------------------------

    def script(self, reply: str | None = None, **options: Any) -> ScriptedResponse:
        """Queue one scripted response; returns it (its fields may still be changed).

        Options: ``tool_calls`` (``[{"name": ..., "arguments": {...}}]`` or the OpenAI
        shape), ``status`` with ``error`` (merged into the OpenAI error JSON: ``message``,
        ``type``, ``code``) and ``headers`` (e.g. ``{"Retry-After": "1"}``), ``latency_ms``
        before answering, ``chunks`` (streamed content pieces) and ``chunk_delay_ms``,
        ``usage``, ``finish_reason``, ``match`` (substring of the last user message),
        ``model``, ``endpoint`` (``chat``, ``embeddings``, ``models`` or ``any``), ``times``
        (uses; ``None`` = forever), ``drop`` (close the connection without answering),
        ``disconnect_after`` (streamed chunks before cutting the connection),
        ``stream_error`` (an error event after the chunks) and ``body`` (a raw JSON answer).
        """
        try:
            entry = ScriptedResponse(reply=reply, **options)
        except TypeError as exc:
            raise ValueError(f"script(): {exc}; see ScriptedUpstream.script's docstring") from None
        if not 100 <= entry.status <= 599:
            raise ValueError(f"script(status={entry.status!r}): give an HTTP status 100-599")
        if entry.times is not None and entry.times < 1:
            raise ValueError(
                f"script(times={entry.times!r}): give a count >= 1, or None for forever"
            )
        entry.tool_calls = _normalize_tool_calls(entry.tool_calls)
        with self._lock:
            self._queue.append(entry)
        return entry

    def reset(self) -> None:
        """Forget scripted responses and received requests."""
        with self._lock:
            self._queue.clear()
            self._log.clear()

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Requests received so far (control requests excluded), oldest first."""
        with self._lock:
            return list(self._log)

    @property
    def pending(self) -> list[ScriptedResponse]:
        """Scripted responses not used up yet."""
        with self._lock:
            return list(self._queue)

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ``http://127.0.0.1:<port>/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def _take(self, endpoint: str, body: Any) -> ScriptedResponse | None:
        with self._lock:
            for i, entry in enumerate(self._queue):
                if entry.fits(endpoint, body):
                    if entry.times is not None:
                        entry.times -= 1
                        if entry.times == 0:
                            del self._queue[i]
                    return entry
        return None

    def _record(self, request: _HttpRequest, body: Any) -> None:
        received = ReceivedRequest(
            request.method, request.path, request.headers, body, time.monotonic()
        )
        with self._lock:
            self._log.append(received)
            self._counter += 1

    def _next_id(self) -> int:
        with self._lock:
            return self._counter

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> ScriptedUpstream:
        """Serve in a background thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("this ScriptedUpstream is already running")
        sock = socket.create_server((self.host, self.port))  # an OSError here says why
        loop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="scripted-upstream", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._bind(sock), loop).result(timeout=10)
        return self

    def stop(self) -> None:
        """Close the server and its connections, and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> ScriptedUpstream:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def serve_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve in the running event loop until cancelled (used by ``python -m``)."""
        await self._bind()
        if on_ready is not None:
            on_ready()
        try:
            await asyncio.Event().wait()
        finally:
            await self._close()

    async def _bind(self, sock: socket.socket | None = None) -> None:
        where: dict[str, Any] = {"sock": sock} if sock else {"host": self.host, "port": self.port}
        self._server = await asyncio.start_server(self._connection, limit=_MAX_HEAD, **where)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # -- HTTP --------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                exchange = _Exchange(request, writer)
                await self._dispatch(exchange)
                if not exchange.keep_alive:
                    break
        except _Malformed as exc:
            with contextlib.suppress(ConnectionError):
                writer.write(_head(400, {}, False, len(str(exc))) + str(exc).encode())
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # shutting down: end normally, or Python 3.11's stream callback logs it
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _dispatch(self, exchange: _Exchange) -> None:
        request = exchange.request
        path = request.path
        if path.startswith("/_upstream/"):
            await self._control(exchange)
            return
        routes: dict[str, tuple[str, Handler]] = {
            "/chat/completions": ("POST", self._chat),
            "/embeddings": ("POST", self._embeddings),
            "/models": ("GET", self._models),
        }
        route = next((r for suffix, r in routes.items() if path.endswith(suffix)), None)
        if route is None:
            await exchange.json(404, _error_body(404, {"message": f"no route for {path}"}))
            return
        if request.method != route[0]:
            await exchange.json(405, _error_body(405, {"message": f"use {route[0]} for {path}"}))
            return
        try:
            body = json.loads(request.body) if request.body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            await exchange.json(
                400, _error_body(400, {"message": f"request body is not JSON: {exc}"})
            )
            return
        self._record(request, body)
        try:
            await route[1](exchange, body)
        except ConnectionError:
            self.client_gone += 1  # the caller closed the connection mid-answer
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a request shape the upstream did not foresee: say so, not hang
            message = f"scripted upstream failed on this request: {type(exc).__name__}: {exc}"
            await exchange.json(500, _error_body(500, {"message": message}))

    async def _control(self, exchange: _Exchange) -> None:
        request, action = exchange.request, exchange.request.path.removeprefix("/_upstream/")
        answer: dict[str, Any] = {"ok": True}
        try:
            if (request.method, action) == ("POST", "script"):
                self.script(**json.loads(request.body or b"{}"))
            elif (request.method, action) == ("POST", "reset"):
                self.reset()
            elif (request.method, action) == ("GET", "requests"):
                log = [{"method": r.method, "path": r.path, "body": r.body} for r in self.requests]
                answer = {"requests": log, "count": len(log)}
            else:
                error = {"message": f"no control action {request.method} {action!r}"}
                answer = _error_body(404, error)
        except (ValueError, TypeError) as exc:
            await exchange.json(400, _error_body(400, {"message": str(exc)}))
            return
        await exchange.json(404 if "error" in answer else 200, answer)

    async def _prelude(self, exchange: _Exchange, entry: ScriptedResponse | None) -> bool:
        """Latency, dropped connections and scripted errors; True when already answered."""
        latency = entry.latency_ms if entry is not None else self.default_latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        if entry is None:
            return False
        if entry.drop:
            exchange.drop()
            return True
        if entry.status >= 400:
            await exchange.json(entry.status, _error_body(entry.status, entry.error), entry.headers)
            return True
        if entry.body is not None:
            await exchange.json(entry.status, entry.body, entry.headers)
            return True
        return False

    # -- endpoints ---------------------------------------------------------------------

    async def _chat(self, exchange: _Exchange, body: Any) -> None:
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("messages"), list)
            or not body.get("model")
        ):
            message = "chat completions need a JSON object with 'model' and a list of 'messages'"
            await exchange.json(400, _error_body(400, {"message": message}))
            return
        entry = self._take("chat", body)
        if await self._prelude(exchange, entry):
            return
        answer = _Answer.build(self, entry, body)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            await answer.stream(exchange, include_usage)
        else:
            await exchange.json(200, answer.completion(), entry.headers if entry else None)

    async def _embeddings(self, exchange: _Exchange, body: Any) -> None:
        raw = body.get("input") if isinstance(body, dict) else None
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or not body.get("model"):
            message = "embeddings need a JSON object with 'model' and 'input' (a string or a list)"
            await exchange.json(400, _error_body(400, {"message": message}))
            return
        entry = self._take("embeddings", body)
        if await self._prelude(exchange, entry):
            return
        dimensions = int(body.get("dimensions") or self.embedding_dimensions)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for i, item in enumerate(texts):
            vector = embed_text(item if isinstance(item, str) else json.dumps(item), dimensions)
            encoded: Any = vector
            if as_base64:
                encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(count_tokens(t) if isinstance(t, str) else len(t) for t in texts)
        usage = (
            entry.usage
            if entry and entry.usage
            else {"prompt_tokens": tokens, "total_tokens": tokens}
        )
        result = {"object": "list", "model": body["model"], "data": data, "usage": usage}
        await exchange.json(200, result, entry.headers if entry else None)

    async def _models(self, exchange: _Exchange, body: Any) -> None:
        entry = self._take("models", body)
        if await self._prelude(exchange, entry):
            return
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "scripted"} for m in self.models
        ]
        await exchange.json(200, {"object": "list", "data": data})


@dataclass
class _Answer:
    """The chat answer for one request, as a completion or as SSE chunks."""

    id: str
    model: str
    content: str | None
    pieces: list[str]
    tool_calls: list[dict[str, Any]] | None
    finish_reason: str
    usage: dict[str, int]
    entry: ScriptedResponse | None

    @classmethod
    def build(
        cls, upstream: ScriptedUpstream, entry: ScriptedResponse | None, body: dict[str, Any]
    ) -> _Answer:
        tool_calls = entry.tool_calls if entry else None
        if entry is not None and entry.chunks is not None:
            content: str | None = "".join(entry.chunks)
        elif entry is not None and (entry.reply is not None or tool_calls):
            content = entry.reply
        elif upstream.default_reply is not None:
            content = upstream.default_reply
        else:
            content = _last_user_text(body)
        pieces = (
            list(entry.chunks)
            if entry and entry.chunks is not None
            else _PIECE.findall(content or "")
        )
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        prompt = sum(count_tokens(_text_of(m.get("content"))) for m in messages)
        arguments = " ".join(c["function"]["arguments"] for c in tool_calls or [])
        completion = count_tokens(content or "") + count_tokens(arguments)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion}
        usage.update(entry.usage if entry and entry.usage else {})
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
        finish = (entry.finish_reason if entry else None) or (
            "tool_calls" if tool_calls else "stop"
        )
        answer_id = f"chatcmpl-{upstream._next_id()}"
        return cls(answer_id, body["model"], content, pieces, tool_calls, finish, usage, entry)

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        choice = {
            "index": 0,
            "message": message,
            "finish_reason": self.finish_reason,
            "logprobs": None,
        }
        return {**self._envelope("chat.completion", [choice]), "usage": self.usage}

    def _envelope(self, kind: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": int(time.time()), "model": self.model,
                "choices": choices}  # fmt: skip

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _dumps(self._envelope("chat.completion.chunk", [choice]))

    def _deltas(self) -> Iterator[bytes]:
        yield self._chunk({"role": "assistant", "content": ""})
        for piece in self.pieces:
            yield self._chunk({"content": piece})
        for i, call in enumerate(self.tool_calls or []):
            start = {
                "index": i,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            yield self._chunk({"tool_calls": [start]})
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                if part:
                    yield self._chunk(
                        {"tool_calls": [{"index": i, "function": {"arguments": part}}]}
                    )

    async def stream(self, exchange: _Exchange, include_usage: bool) -> None:
        entry = self.entry
        delay = (entry.chunk_delay_ms / 1000) if entry else 0.0
        await exchange.start_stream(entry.headers if entry else {})
        for n, payload in enumerate(self._deltas()):
            if (
                entry is not None
                and entry.disconnect_after is not None
                and n >= entry.disconnect_after
            ):
                await exchange.flush()
                exchange.drop()
                return
            await exchange.event(payload, delay if n else 0.0)
        if entry is not None and entry.stream_error is not None:
            await exchange.event(_dumps(_error_body(500, entry.stream_error)))
            await exchange.end_stream()
            return
        await exchange.event(self._chunk({}, self.finish_reason), delay)
        if include_usage:
            usage_chunk = {**self._envelope("chat.completion.chunk", []), "usage": self.usage}
            await exchange.event(_dumps(usage_chunk))
        await exchange.end_stream()


def main(argv: list[str] | None = None) -> None:
    """Serve a scripted upstream in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m llmloop.testing.upstream", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--reply", help="fixed reply (default: echo the last user message)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--log-limit", type=int, default=1000, help="requests kept in the log")
    args = parser.parse_args(argv)
    options = {"reply": args.reply, "latency_ms": args.latency_ms, "log_limit": args.log_limit}
    upstream = ScriptedUpstream(host=args.host, port=args.port, **options)

    def announce() -> None:
        print(f"scripted upstream on {upstream.base_url}", flush=True)

    async def run() -> None:
        task = asyncio.ensure_future(upstream.serve_forever(announce))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    if uvloop is not None:
        uvloop.run(run())
    else:
        asyncio.run(run())


if __name__ == "__main__":
    main()
