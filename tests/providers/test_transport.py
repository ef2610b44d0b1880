"""Retries, backoff, Retry-After and error classification, with raw httpx on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmloop.errors import ProviderError
from llmloop.providers.transport import (
    ErrorKind,
    RetryPolicy,
    UpstreamFailure,
    call_with_retries,
    classify,
    classify_status,
    parse_retry_after,
    should_fall_back,
    stream_with_retries,
)
from llmloop.testing import ScriptedUpstream

FAST = RetryPolicy(max_retries=3, timeout_s=5.0, backoff_initial_s=0.01, backoff_max_s=0.05)
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


class Sleeps:
    """Records requested waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# -- Retry-After -----------------------------------------------------------------------


def test_retry_after_seconds_milliseconds_and_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    in_ten = format_datetime(now + timedelta(seconds=10), usegmt=True)
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"Retry-After": in_ten}, now=now) == 10.0
    assert (
        parse_retry_after({"Retry-After": format_datetime(now - timedelta(seconds=5))}, now=now)
        == 0
    )
    assert parse_retry_after({"Retry-After": "-4"}) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "nan"}) is None
    assert parse_retry_after({"retry-after-ms": "x", "Retry-After": "2"}) == 2.0
    assert parse_retry_after({}) is None


@given(st.integers(min_value=0, max_value=10**6))
def test_retry_after_delta_seconds_roundtrip(seconds: int) -> None:
    assert parse_retry_after({"Retry-After": str(seconds)}) == seconds


def test_retry_after_wait_is_capped_and_backoff_grows_within_bounds() -> None:
    policy = RetryPolicy(backoff_initial_s=1.0, backoff_max_s=8.0, retry_after_max_s=30.0)
    told = UpstreamFailure(ErrorKind.RATE_LIMIT, "x", 429, retry_after_s=2.0)
    assert 2.0 <= policy.delay(told, 1) <= 2.2
    huge = UpstreamFailure(ErrorKind.RATE_LIMIT, "x", 429, retry_after_s=3600.0)
    assert policy.delay(huge, 1) == 30.0
    plain = UpstreamFailure(ErrorKind.SERVER, "x", 503)
    for retry, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        assert policy.delay(plain, retry, rng=lambda: 0.0) == base / 2
        assert policy.delay(plain, retry, rng=lambda: 1.0) == base


# -- classification --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "kind", "retry"),
    [
        (429, {"message": "Rate limit reached"}, ErrorKind.RATE_LIMIT, True),
        (
            429,
            {"message": "You exceeded your quota", "code": "insufficient_quota"},
            ErrorKind.RATE_LIMIT,
            False,
        ),
        (500, {"message": "boom"}, ErrorKind.SERVER, True),
        (503, {"message": "overloaded"}, ErrorKind.SERVER, True),
        (529, {"type": "overloaded_error", "message": "Overloaded"}, ErrorKind.SERVER, True),
        (408, {"message": "timeout"}, ErrorKind.TIMEOUT, True),
        (400, {"message": "bad param", "code": "invalid_value"}, ErrorKind.BAD_REQUEST, False),
        (422, {"message": "unprocessable"}, ErrorKind.BAD_REQUEST, False),
        (401, {"message": "Incorrect API key"}, ErrorKind.AUTH, False),
        (403, {"message": "not allowed"}, ErrorKind.AUTH, False),
        (404, {"message": "The model `x` does not exist"}, ErrorKind.NOT_FOUND, False),
        (
            400,
            {"message": "too long", "code": "context_length_exceeded"},
            ErrorKind.CONTEXT_WINDOW,
            False,
        ),
        (
            400,
            {"message": "This model's maximum context length is 4096 tokens."},
            ErrorKind.CONTEXT_WINDOW,
            False,
        ),
        (
            400,
            {"message": "prompt is too long: 210000 tokens > 200000 maximum"},
            ErrorKind.CONTEXT_WINDOW,
            False,
        ),
        (
            400,
            {"message": "the request exceeds the available context size"},
            ErrorKind.CONTEXT_WINDOW,
            False,
        ),
        (
            400,
            {"message": "x", "code": "content_policy_violation"},
            ErrorKind.CONTENT_POLICY,
            False,
        ),
        (400, {"message": "filtered", "code": "content_filter"}, ErrorKind.CONTENT_POLICY, False),
        (
            400,
            {"message": "Your request was rejected by our safety system"},
            ErrorKind.CONTENT_POLICY,
            False,
        ),
    ],
)
def test_classify_status(status: int, error: dict[str, str], kind: ErrorKind, retry: bool) -> None:
    failure = classify_status(status, {"error": error}, {})
    assert failure.kind is kind
    assert failure.should_retry is retry
    assert failure.message == error["message"]
    assert failure.status == status


def test_classify_reads_plain_text_and_fastapi_bodies() -> None:
    assert (
        classify_status(502, "<html>bad gateway</html>", {}).message == "<html>bad gateway</html>"
    )
    assert classify_status(422, {"detail": "field required"}, {}).message == "field required"
    assert classify_status(500, None, {}, "fallback").message == "fallback"
    assert classify_status(500, None, {}).message == "HTTP 500"


def test_classify_unknown_exceptions_is_none() -> None:
    assert classify(ValueError("bug")) is None
    assert classify(KeyError("x")) is None
    assert classify(TimeoutError()).kind is ErrorKind.TIMEOUT  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_fallback_on_every_kind_but_content_policy(kind: ErrorKind) -> None:
    error = ProviderError("x", kind=kind.value)
    assert should_fall_back(error) is (kind is not ErrorKind.CONTENT_POLICY)


def test_no_fallback_on_errors_that_are_not_provider_errors() -> None:
    assert should_fall_back(ValueError("bug")) is False


# -- call_with_retries with raw httpx --------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def post(http: httpx.AsyncClient) -> httpx.Response:
    response = await http.post("/chat/completions", json=BODY)
    return response.raise_for_status()


async def test_raw_httpx_retries_503_then_succeeds() -> None:
    sleeps = Sleeps()
    with ScriptedUpstream() as up:
        up.script(status=503, error={"message": "busy"}, times=2)
        async with httpx.AsyncClient(base_url=up.base_url) as http:
            response = await call_with_retries(
                lambda: post(http), provider="raw", model="m", policy=FAST, sleep=sleeps
            )
        assert response.json()["choices"][0]["message"]["content"] == "hi"
        assert len(up.requests) == 3
    assert len(sleeps.waits) == 2
    assert all(0.005 <= w <= 0.05 for w in sleeps.waits)


async def test_raw_httpx_honours_retry_after_date() -> None:
    sleeps = Sleeps()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    with ScriptedUpstream() as up:
        up.script(status=429, headers={"Retry-After": when})
        async with httpx.AsyncClient(base_url=up.base_url) as http:
            await call_with_retries(
                lambda: post(http), provider="raw", model="m", policy=FAST, sleep=sleeps
            )
    (wait,) = sleeps.waits
    assert 18.0 <= wait <= 22.0


async def test_raw_httpx_gives_up_with_upstream_message() -> None:
    sleeps = Sleeps()
    with ScriptedUpstream() as up:
        up.script(status=500, error={"message": "database on fire"}, times=None)
        async with httpx.AsyncClient(base_url=up.base_url) as http:
            with pytest.raises(ProviderError) as caught:
                await call_with_retries(
                    lambda: post(http), provider="raw", model="m-1", policy=FAST, sleep=sleeps
                )
        assert len(up.requests) == 4
    error = caught.value
    assert (error.kind, error.upstream_status) == ("server", 500)
    assert "'raw'" in error.message and "'m-1'" in error.message
    assert "HTTP 500" in error.message and "database on fire" in error.message
    assert "after 4 attempts" in error.message
    assert error.details["attempts"] == 4
    assert isinstance(error.__cause__, httpx.HTTPStatusError)


async def test_raw_httpx_connection_refused_is_retried_then_reported() -> None:
    port = free_port()  # bound then released: nothing listens there
    sleeps = Sleeps()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1") as http:
        with pytest.raises(ProviderError) as caught:
            await call_with_retries(
                lambda: post(http), provider="raw", model="m", policy=FAST, sleep=sleeps
            )
    assert caught.value.kind == "connection"
    assert caught.value.upstream_status is None
    assert "ConnectError" in caught.value.message
    assert len(sleeps.waits) == 3


async def test_unknown_errors_propagate_without_retry() -> None:
    calls = 0

    async def buggy() -> None:
        nonlocal calls
        calls += 1
        raise KeyError("a bug, not an upstream failure")

    with pytest.raises(KeyError):
        await call_with_retries(buggy, provider="p", model="m", policy=FAST)
    assert calls == 1


async def test_each_attempt_is_bounded_by_the_timeout() -> None:
    policy = RetryPolicy(max_retries=1, timeout_s=0.2, backoff_initial_s=0.01)
    with ScriptedUpstream(latency_ms=2000) as up:
        async with httpx.AsyncClient(base_url=up.base_url, timeout=30) as http:
            started = time.perf_counter()
            with pytest.raises(ProviderError) as caught:
                await call_with_retries(lambda: post(http), provider="p", model="m", policy=policy)
            elapsed = time.perf_counter() - started
        assert len(up.requests) == 2
    assert caught.value.kind == "timeout"
    assert "LLMLOOP_REQUEST_TIMEOUT_S" in caught.value.message
    assert 0.4 <= elapsed < 1.5


# -- stream_with_retries ---------------------------------------------------------------


class FakeStream:
    """An async iterator that fails where told and records being closed."""

    def __init__(self, items: list[object], fail_at: int | None = None) -> None:
        self.items, self.fail_at, self.closed = items, fail_at, False

    def __aiter__(self) -> FakeStream:
        self.position = 0
        return self

    async def __anext__(self) -> object:
        if self.position == self.fail_at:
            raise httpx.ReadError("connection reset")
        if self.position >= len(self.items):
            raise StopAsyncIteration
        self.position += 1
        return self.items[self.position - 1]

    async def aclose(self) -> None:
        self.closed = True


async def collect(stream: AsyncIterator[object]) -> list[object]:
    return [item async for item in stream]


async def test_stream_retries_failures_before_the_first_item() -> None:
    streams = [FakeStream([1, 2], fail_at=0), FakeStream([1, 2, 3])]
    opened = iter(streams)

    async def open_stream() -> FakeStream:
        return next(opened)

    items = await collect(stream_with_retries(open_stream, provider="p", model="m", policy=FAST))
    assert items == [1, 2, 3]
    assert streams[0].closed and streams[1].closed


async def test_stream_failure_after_first_item_is_not_retried() -> None:
    stream = FakeStream([1, 2, 3], fail_at=2)
    opens = 0

    async def open_stream() -> FakeStream:
        nonlocal opens
        opens += 1
        return stream

    received: list[object] = []
    with pytest.raises(ProviderError) as caught:
        async for item in stream_with_retries(open_stream, provider="p", model="m", policy=FAST):
            received.append(item)
    assert received == [1, 2]
    assert opens == 1
    assert caught.value.kind == "connection"
    assert stream.closed


async def test_stream_closed_when_the_caller_stops_early() -> None:
    stream = FakeStream([1, 2, 3])

    async def open_stream() -> FakeStream:
        return stream

    iterator = stream_with_retries(open_stream, provider="p", model="m", policy=FAST)
    async for _ in iterator:
        break
    await iterator.aclose()  # type: ignore[attr-defined]
    assert stream.closed


async def test_stream_time_to_first_item_is_bounded() -> None:
    policy = RetryPolicy(max_retries=0, timeout_s=0.1)

    class Slow(FakeStream):
        async def __anext__(self) -> object:
            await asyncio.sleep(5)
            return 1

    async def open_stream() -> FakeStream:
        return Slow([])

    started = time.perf_counter()
    with pytest.raises(ProviderError, match="timeout"):
        await collect(stream_with_retries(open_stream, provider="p", model="m", policy=policy))
    assert time.perf_counter() - started < 1.0
