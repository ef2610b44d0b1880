"""A lean HTTP/1.1 keep-alive client for the gateway's upstream calls.

The gateway forwards OpenAI-compatible JSON almost unchanged, so it needs little from an
HTTP client: write one request, read the status, the headers and the body (or stream
it), and keep the connection for the next call. This client does only that, on
:mod:`asyncio` protocols with the ``httptools`` parser uvicorn already uses; it costs a
fraction of a general-purpose client per call (see ``bench/gateway.py``).

Connections are pooled per origin (scheme, host, port), most recently used first. A
request on a reused connection that the server had closed meanwhile is sent again once
on a new connection, before anything was received. Cancelling a call (a client that
went away, a timeout) closes its connection, which is how the upstream learns of it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = ["HttpPool", "Origin", "UpstreamClosed", "WireResponse"]

_MAX_IDLE = 512


class UpstreamClosed(ConnectionError):
    """The upstream closed the connection before the answer was complete."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a base URL points: scheme, host, port and the path prefix of its routes."""

    scheme: str
    host: str
    port: int
    prefix: str  # "/v1" for "http://host:port/v1"

    @classmethod
    def parse(cls, base_url: str) -> Origin:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base URL {base_url!r} must be http(s)://host[:port][/path]")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


@dataclass(slots=True)
class WireResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    _conn: _Connection | None = field(default=None, repr=False)

    async def iter_body(self) -> AsyncIterator[bytes]:
        """The body as it arrives (chunked framing removed); for streamed answers."""
        conn = self._conn
        if conn is None:
            if self.body:
                yield self.body
            return
        try:
            while True:
                piece = await conn.next_piece()
                if piece is None:
                    break
                yield piece
        finally:
            self._conn = None
            conn.finish()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses one response at a time."""

    def __init__(self, pool: HttpPool, origin: Origin) -> None:
        self.pool = pool
        self.origin = origin
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.streaming = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.pieces: deque[bytes] = deque()
        self.complete = False
        self.keep_alive = False
        self.received = False
        self.error: BaseException | None = None
        self.head_waiter: asyncio.Future[None] | None = None
        self.data_waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamClosed(f"malformed HTTP answer from the upstream: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete:
            self._fail(UpstreamClosed("the upstream closed the connection mid-answer"))

    # -- httptools callbacks -------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()  # not readable after the message
        self._wake_head()

    def on_body(self, body: bytes) -> None:
        if self.streaming:
            self.pieces.append(body)
            self._wake_data()
        else:
            self.body += body

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake_head()
        self._wake_data()

    # -- waiting -------------------------------------------------------------------------

    def _wake_head(self) -> None:
        waiter = self.head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_data(self) -> None:
        waiter = self.data_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        for waiter in (self.head_waiter, self.data_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)

    async def send(self, payload: bytes, *, stream: bool) -> None:
        """Write a request and wait for its head (stream) or its whole answer."""
        assert self.transport is not None
        self._reset()
        self.streaming = stream
        loop = asyncio.get_running_loop()
        self.head_waiter = loop.create_future()
        self.transport.write(payload)
        await self.head_waiter
        if not stream and not self.complete:
            self.head_waiter = loop.create_future()
            await self.head_waiter

    async def next_piece(self) -> bytes | None:
        while not self.pieces:
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            self.data_waiter = asyncio.get_running_loop().create_future()
            await self.data_waiter
        return self.pieces.popleft()

    def finish(self) -> None:
        """Back to the pool when the answer was read to the end and may be kept."""
        if self.complete and not self.closed and self.keep_alive:
            self.pool.release(self)
        else:
            self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class HttpPool:
    """Keep-alive connections per origin; one request at a time per connection."""

    def __init__(self, *, connect_timeout_s: float = 10.0) -> None:
        self.connect_timeout_s = connect_timeout_s
        self._idle: dict[Origin, list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None
        self.opened = 0

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def _connect(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        ssl_context = self._ssl_context() if origin.scheme == "https" else None
        async with asyncio.timeout(self.connect_timeout_s):
            _, conn = await loop.create_connection(
                lambda: _Connection(self, origin),
                origin.host,
                origin.port,
                ssl=ssl_context,
                server_hostname=origin.host if ssl_context else None,
            )
        self.opened += 1
        return conn

    def release(self, conn: _Connection) -> None:
        idle = self._idle.setdefault(conn.origin, [])
        if len(idle) >= _MAX_IDLE:
            conn.close()
            return
        idle.append(conn)

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        loop = asyncio.get_running_loop()
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if conn.closed or conn.loop is not loop or transport is None or transport.is_closing():
                if conn.loop is loop:
                    conn.close()
                continue
            return conn
        return None

    async def request(
        self,
        origin: Origin,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        stream: bool = False,
    ) -> WireResponse:
        """Send one request; for ``stream``, read the body with ``iter_body()``."""
        lines = [f"{method} {path} HTTP/1.1", f"host: {origin.host_header}"]
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        lines.append(f"content-length: {len(body)}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        conn = self._take_idle(origin)
        reused = conn is not None
        while True:
            if conn is None:
                conn = await self._connect(origin)
            try:
                await conn.send(payload, stream=stream)
            except UpstreamClosed:
                stale = reused and not conn.received
                conn.close()
                if not stale:
                    raise
                conn, reused = None, False  # the server had closed an idle connection
                continue
            except BaseException:  # cancelled or timed out: the upstream sees the close
                conn.close()
                raise
            break
        if stream:
            return WireResponse(conn.status, conn.headers, _conn=conn)
        response = WireResponse(conn.status, conn.headers, bytes(conn.body))
        conn.finish()
        return response

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
