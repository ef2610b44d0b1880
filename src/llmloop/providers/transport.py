"""Retries, backoff and timeouts for every provider, in one place.

Providers translate requests and responses; they call upstreams through
:func:`call_with_retries` (one request/response) or :func:`stream_with_retries` (a
stream, retried only until its first chunk). Both retry rate limits (429), server errors
(5xx), timeouts and connection errors with exponential backoff and jitter, honour
``Retry-After`` / ``retry-after-ms`` (seconds or an HTTP date, capped), and raise
:class:`llmloop.errors.ProviderError` with a :class:`ErrorKind` once they give up or meet
an error that retrying cannot fix (400, 401, 403, 404, content-policy refusals, context
window overflows).

Clients must not retry on their own: construct SDK clients with ``max_retries=0``.
:func:`classify` understands the ``openai`` SDK's exceptions and raw ``httpx``
(``response.raise_for_status()``); another SDK passes its own ``classify`` that falls
back to this one (see :mod:`llmloop.providers.anthropic`).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import httpx
import openai

from llmloop.errors import ProviderError
from llmloop.settings import Settings

__all__ = [
    "RETRYABLE_KINDS",
    "ErrorKind",
    "RetryPolicy",
    "UpstreamFailure",
    "call_with_retries",
    "classify",
    "classify_status",
    "classify_stream_error",
    "parse_retry_after",
    "provider_error",
    "should_fall_back",
    "stream_with_retries",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


class ErrorKind(StrEnum):
    """Why an upstream call failed; a gateway falls back on every kind but content_policy."""

    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    CONTEXT_WINDOW = "context_window"
    CONTENT_POLICY = "content_policy"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"


RETRYABLE_KINDS = frozenset(
    {ErrorKind.RATE_LIMIT, ErrorKind.SERVER, ErrorKind.TIMEOUT, ErrorKind.CONNECTION}
)

_HINTS = {
    ErrorKind.RATE_LIMIT: "slow down, raise the provider's rate limit or add a fallback model",
    ErrorKind.SERVER: "the provider is failing; retry later or configure a fallback model",
    ErrorKind.TIMEOUT: "raise LLMLOOP_REQUEST_TIMEOUT_S or ask for fewer tokens",
    ErrorKind.CONNECTION: "check the provider's base URL and that it is reachable",
    ErrorKind.CONTEXT_WINDOW: "shorten the prompt or use a model with a larger context window",
    ErrorKind.CONTENT_POLICY: "the provider refused the content; rephrase the request",
    ErrorKind.AUTH: "check the API key (its environment variable) and its permissions",
    ErrorKind.NOT_FOUND: "check the model name and the base URL",
    ErrorKind.BAD_REQUEST: "fix the request parameters named in the message",
}

_CONTEXT_CODES = {"context_length_exceeded", "exceed_context_size_error", "string_above_max_length"}
_CONTEXT_TEXT = re.compile(
    r"context[ _-]?(length|window|size|limit)|maximum context|prompt is too long|input is too long"
    r"|too many (input )?tokens|`inputs` tokens \+ `max_new_tokens`",
    re.IGNORECASE,
)
_POLICY_CODES = {
    "content_policy_violation",
    "content_filter",
    "content_filtered",
    "moderation_blocked",
}
_POLICY_TEXT = re.compile(
    r"content (management )?policy|content[ _]filter|safety system|was flagged", re.IGNORECASE
)


@dataclass(frozen=True)
class UpstreamFailure:
    """A classified upstream error."""

    kind: ErrorKind
    message: str
    status: int | None = None
    retry_after_s: float | None = None
    retryable: bool | None = field(default=None)

    @property
    def should_retry(self) -> bool:
        return self.kind in RETRYABLE_KINDS if self.retryable is None else self.retryable


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``max_retries`` counts retries, so attempts = max_retries + 1."""

    max_retries: int = 3
    timeout_s: float = 60.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    retry_after_max_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(max_retries=settings.max_retries, timeout_s=settings.request_timeout_s)

    def delay(
        self, failure: UpstreamFailure, retry: int, rng: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if failure.retry_after_s is not None:  # as asked, plus up to 10% against stampedes
            return min(failure.retry_after_s * (1 + 0.1 * rng()), self.retry_after_max_s)
        base = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (retry - 1))
        return base * (0.5 + 0.5 * rng())


def parse_retry_after(
    headers: Mapping[str, str] | Any, now: datetime | None = None
) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or an HTTP date)."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            millis = float(raw_ms)
        except ValueError:
            millis = math.nan
        if math.isfinite(millis) and millis >= 0:
            return millis / 1000
    raw = lowered.get("retry-after")
    if raw is None or not raw.strip():
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _error_fields(body: Any) -> tuple[str | None, str | None, str | None]:
    """(message, code, type) from an error body: OpenAI, Anthropic, FastAPI or plain text."""
    if isinstance(body, str):
        return (body.strip()[:1000] or None), None, None
    if not isinstance(body, dict):
        return None, None, None
    inner = body.get("error", body)
    if isinstance(inner, str):
        return inner, None, None
    if not isinstance(inner, dict):
        return None, None, None
    message = (
        inner.get("message") or inner.get("detail") or body.get("message") or body.get("detail")
    )
    code, kind = inner.get("code"), inner.get("type")
    return (
        str(message) if message else None,
        str(code) if code is not None else None,
        str(kind) if kind is not None else None,
    )


def classify_status(
    status: int, body: Any, headers: Mapping[str, str] | Any, fallback_message: str = ""
) -> UpstreamFailure:
    """Classify an HTTP error answer from its status, its JSON body and its headers."""
    if status < 400:  # an error event inside a stream that started with 200
        return classify_stream_error(body, fallback_message or "error event in the stream")
    message, code, err_type = _error_fields(body)
    message = message or fallback_message or f"HTTP {status}"
    retry_after = parse_retry_after(headers)
    labels = {code or "", err_type or ""}
    if status in (400, 403, 404, 413, 422) and (
        labels & _POLICY_CODES or _POLICY_TEXT.search(message)
    ):
        return UpstreamFailure(ErrorKind.CONTENT_POLICY, message, status)
    if status in (400, 413, 422) and (labels & _CONTEXT_CODES or _CONTEXT_TEXT.search(message)):
        return UpstreamFailure(ErrorKind.CONTEXT_WINDOW, message, status)
    if status == 429:
        quota = "insufficient_quota" in labels
        return UpstreamFailure(
            ErrorKind.RATE_LIMIT, message, status, retry_after, False if quota else None
        )
    if status == 408:
        return UpstreamFailure(ErrorKind.TIMEOUT, message, status, retry_after)
    if status >= 500:
        return UpstreamFailure(ErrorKind.SERVER, message, status, retry_after)
    if status in (401, 403):
        return UpstreamFailure(ErrorKind.AUTH, message, status)
    if status == 404:
        return UpstreamFailure(ErrorKind.NOT_FOUND, message, status)
    return UpstreamFailure(ErrorKind.BAD_REQUEST, message, status)


def classify(exc: BaseException) -> UpstreamFailure | None:
    """Classify an exception from the ``openai`` SDK, ``httpx`` or a timeout; None otherwise."""
    if isinstance(exc, openai.APIStatusError):
        return classify_status(exc.status_code, exc.body, exc.response.headers, exc.message)
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamFailure(ErrorKind.TIMEOUT, "the request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamFailure(ErrorKind.CONNECTION, _describe_cause(exc))
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        return classify_stream_error(exc.body, exc.message)
    if isinstance(exc, httpx.HTTPStatusError):
        return classify_status(
            exc.response.status_code, _httpx_body(exc.response), exc.response.headers
        )
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamFailure(ErrorKind.TIMEOUT, f"the request timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return UpstreamFailure(ErrorKind.CONNECTION, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, TimeoutError):
        return UpstreamFailure(ErrorKind.TIMEOUT, "no answer within the request timeout")
    return None


def classify_stream_error(body: Any, fallback_message: str) -> UpstreamFailure:
    """An error reported inside a 200 stream: policy and context errors keep their kind."""
    message, code, err_type = _error_fields(body)
    message = message or fallback_message
    labels = {code or "", err_type or ""}
    if labels & _POLICY_CODES or _POLICY_TEXT.search(message):
        return UpstreamFailure(ErrorKind.CONTENT_POLICY, message)
    if labels & _CONTEXT_CODES or _CONTEXT_TEXT.search(message):
        return UpstreamFailure(ErrorKind.CONTEXT_WINDOW, message)
    if "rate_limit" in (err_type or ""):
        return UpstreamFailure(ErrorKind.RATE_LIMIT, message)
    return UpstreamFailure(ErrorKind.SERVER, message)


def _describe_cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    if cause is None:
        return str(exc) or type(exc).__name__
    return (
        f"{exc} ({type(cause).__name__}: {cause})"
        if str(cause)
        else f"{exc} ({type(cause).__name__})"
    )


def _httpx_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, httpx.ResponseNotRead):
        try:
            return response.text
        except httpx.ResponseNotRead:
            return None


def provider_error(
    failure: UpstreamFailure, *, provider: str, model: str, attempts: int
) -> ProviderError:
    """The ProviderError for a failure we give up on."""
    status = f"HTTP {failure.status}" if failure.status is not None else "no HTTP status"
    tries = f"after {attempts} attempts" if attempts > 1 else "on the first attempt"
    message = (
        f"provider {provider!r}, model {model!r}: {failure.kind.value} ({status}) {tries}: "
        f"{failure.message.rstrip('. ')}. What to do: {_HINTS[failure.kind]}."
    )
    details: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "kind": failure.kind.value,
        "upstream_status": failure.status,
        "attempts": attempts,
    }
    if failure.retry_after_s is not None:
        details["retry_after_s"] = failure.retry_after_s
    return ProviderError(
        message, upstream_status=failure.status, kind=failure.kind.value, details=details
    )


def should_fall_back(error: BaseException) -> bool:
    """Whether a gateway should try its fallback model after ``error``.

    Yes for provider failures of every kind (rate limits, outages, timeouts, context
    window overflows, auth, ...); no for content-policy refusals, which another model
    should not be asked to get around, and for anything that is not a ProviderError.
    """
    return isinstance(error, ProviderError) and error.kind != ErrorKind.CONTENT_POLICY


Classifier = Callable[[BaseException], UpstreamFailure | None]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class _Attempts:
    provider: str
    model: str
    policy: RetryPolicy
    classify: Classifier
    sleep: Sleep
    count: int = 0

    def _classify(self, exc: Exception) -> UpstreamFailure | None:
        failure = self.classify(exc)
        if failure is not None and failure.kind is ErrorKind.TIMEOUT and failure.status is None:
            limit = f" (limit {self.policy.timeout_s:g}s per attempt)"
            failure = replace(failure, message=failure.message + limit)
        return failure

    async def wait_to_retry(self, exc: Exception) -> bool:
        """Wait and return True to retry; False for an unknown error (re-raise it).

        Raises :class:`ProviderError` for an upstream failure that is not worth retrying
        or once the retries are used up.
        """
        failure = self._classify(exc)
        if failure is None:
            return False
        if not failure.should_retry or self.count > self.policy.max_retries:
            raise provider_error(
                failure, provider=self.provider, model=self.model, attempts=self.count
            ) from exc
        delay = self.policy.delay(failure, self.count)
        log.info(
            "provider %s model %s: %s (%s), attempt %d of %d; retrying in %.2fs",
            self.provider, self.model, failure.kind.value, failure.status or "-", self.count,
            self.policy.max_retries + 1, delay,
        )  # fmt: skip
        await self.sleep(delay)
        return True

    def give_up(self, exc: Exception) -> Exception:
        """The error to raise for a failure after a stream started: never retried."""
        failure = self._classify(exc)
        if failure is None:
            return exc
        return provider_error(
            failure, provider=self.provider, model=self.model, attempts=self.count
        )


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    provider: str,
    model: str,
    policy: RetryPolicy | None = None,
    classify: Classifier = classify,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Await ``call()`` until it succeeds, retrying what :func:`classify` calls retryable.

    Each attempt is bounded by ``policy.timeout_s``. Raises :class:`ProviderError` when
    giving up; an exception the classifier does not know propagates unchanged.
    """
    attempts = _Attempts(provider, model, policy or RetryPolicy(), classify, sleep)
    while True:
        attempts.count += 1
        try:
            async with asyncio.timeout(attempts.policy.timeout_s):
                return await call()
        except Exception as exc:  # classified; an error we do not know propagates unchanged
            if not await attempts.wait_to_retry(exc):
                raise


async def _aclose(stream: Any) -> None:
    closer = getattr(stream, "aclose", None) or getattr(stream, "close", None)
    if closer is not None:
        result = closer()
        if asyncio.iscoroutine(result):
            await result


async def stream_with_retries(
    open_stream: Callable[[], Awaitable[Any]],
    *,
    provider: str,
    model: str,
    policy: RetryPolicy | None = None,
    classify: Classifier = classify,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[Any]:
    """Yield the items of ``await open_stream()``, retrying failures before the first item.

    Opening the stream and receiving its first item are bounded by ``policy.timeout_s``;
    later items by the client's read timeout. A failure after the first item is raised as
    :class:`ProviderError` without retrying (the caller has already seen output). The
    upstream stream is closed when the caller stops early.
    """
    attempts = _Attempts(provider, model, policy or RetryPolicy(), classify, sleep)
    while True:
        attempts.count += 1
        stream: Any = None
        try:
            async with asyncio.timeout(attempts.policy.timeout_s):
                stream = await open_stream()
                iterator = aiter(stream)
                first = await anext(iterator)
            break
        except StopAsyncIteration:
            await _aclose(stream)
            return
        except Exception as exc:  # classified; an error we do not know propagates unchanged
            await _aclose(stream)
            if not await attempts.wait_to_retry(exc):
                raise
    try:
        yield first
        while True:  # anext, not `async for`: that would call __aiter__ a second time
            try:
                item = await anext(iterator)
            except StopAsyncIteration:
                break
            yield item
    except Exception as exc:  # mapped to ProviderError when it is an upstream failure
        error = attempts.give_up(exc)
        if error is exc:
            raise
        raise error from exc
    finally:
        await _aclose(stream)
