"""Calling an arm: retries with backoff per upstream, circuit breakers, fallbacks.

For one arm the gateway tries its model, then each fallback in order. Each upstream is
tried up to ``max_retries + 1`` times while its failure is retryable (rate limits,
server errors, timeouts, connection errors), waiting with exponential backoff and
jitter or as ``Retry-After`` asks. An upstream whose circuit is open is skipped. Any
failure moves on to the next fallback except a content-policy refusal, which is
answered as is unless the arm sets ``fallback_on_refusal``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from llmloop.errors import LlmloopError
from llmloop.gateway.breaker import Breakers
from llmloop.gateway.errors import GatewayError, from_provider_error
from llmloop.gateway.plan import Arm
from llmloop.gateway.traces import Attempt, CallRecord
from llmloop.gateway.upstreams import Upstream, UpstreamError, Upstreams
from llmloop.providers.transport import ErrorKind, RetryPolicy, UpstreamFailure, provider_error

__all__ = ["BREAKER_KINDS", "Caller"]

T = TypeVar("T")
# failures that say the upstream itself is unwell (a rate limit or a bad request does not)
BREAKER_KINDS = frozenset({ErrorKind.SERVER, ErrorKind.TIMEOUT, ErrorKind.CONNECTION})

Call = Callable[[Upstream], Awaitable[T]]
Accept = Callable[[T], UpstreamFailure | None]


class Caller:
    def __init__(self, upstreams: Upstreams, breakers: Breakers, policy: RetryPolicy) -> None:
        self.upstreams = upstreams
        self.breakers = breakers
        self.policy = policy

    async def call(
        self,
        arm: Arm,
        record: CallRecord,
        call: Call[T],
        accept: Accept[T] | None = None,
    ) -> tuple[Upstream, T]:
        """The first good answer among the arm's model and its fallbacks."""
        refs = [arm.model, *arm.fallbacks]
        last: UpstreamFailure | None = None
        last_ref = arm.model
        for i, ref in enumerate(refs):
            if i:
                record.event("fallback", to_model=ref, reason=last.kind.value if last else None)
            try:
                upstream = self.upstreams.get(ref)
            except LlmloopError as exc:
                last, last_ref = UpstreamFailure(ErrorKind.NOT_FOUND, exc.message), ref
                record.attempts.append(_failed(ref, last))
                continue
            if not self.breakers.allow(ref):
                wait = self.breakers.retry_after_s(ref)
                message = (
                    f"upstream {ref!r} is failing: its circuit is open after repeated failures; "
                    f"next probe in {wait:.0f} s. Configure a fallback model to keep serving"
                )
                last, last_ref = UpstreamFailure(ErrorKind.SERVER, message, 503, wait), ref
                record.event("circuit_open", model=ref)
                continue
            try:
                result = await self._with_retries(upstream, record, call)
            except UpstreamError as exc:
                last, last_ref = exc.failure, ref
                if last.kind is ErrorKind.CONTENT_POLICY and not arm.fallback_on_refusal:
                    break
                continue
            refusal = accept(result) if accept is not None else None
            if refusal is not None and arm.fallback_on_refusal and i < len(refs) - 1:
                last, last_ref = refusal, ref
                record.attempts[-1].status = "error"
                record.attempts[-1].error_kind = refusal.kind.value
                continue
            return upstream, result
        assert last is not None
        if last.status == 503 and last.message.startswith(f"upstream {last_ref!r} is failing"):
            retry = str(max(1, round(last.retry_after_s or 1)))
            raise GatewayError(
                503, last.message, code="circuit_open", headers={"retry-after": retry}
            )
        raise self.error(last, last_ref, len(record.attempts))

    def error(self, failure: UpstreamFailure, ref: str, attempts: int) -> GatewayError:
        provider, _, model = ref.partition("/")
        gateway_error = from_provider_error(
            provider_error(failure, provider=provider, model=model, attempts=max(1, attempts))
        )
        if failure.retry_after_s is not None and gateway_error.status in (429, 502, 503):
            gateway_error.headers["retry-after"] = str(max(1, round(failure.retry_after_s)))
        return gateway_error

    async def _with_retries(self, upstream: Upstream, record: CallRecord, call: Call[T]) -> T:
        ref, policy = upstream.ref, self.policy
        count = 0
        while True:
            count += 1
            attempt = Attempt(ref, time.perf_counter())
            record.attempts.append(attempt)
            try:
                async with asyncio.timeout(policy.timeout_s):
                    result = await call(upstream)
            except UpstreamError as exc:
                failure = exc.failure
            except TimeoutError:
                message = f"no answer within {policy.timeout_s:g} s (LLMLOOP_REQUEST_TIMEOUT_S)"
                failure = UpstreamFailure(ErrorKind.TIMEOUT, message)
            except BaseException:
                attempt.ended, attempt.status = time.perf_counter(), "error"
                self.breakers.release_probe(ref)
                raise
            else:
                attempt.ended = time.perf_counter()
                self.breakers.success(ref)
                return result
            _fill(attempt, failure)
            if failure.kind in BREAKER_KINDS:
                self.breakers.failure(ref)
            else:
                self.breakers.release_probe(ref)
            if upstream.retries_inside or not failure.should_retry or count > policy.max_retries:
                raise UpstreamError(failure)
            delay = policy.delay(failure, count)
            if delay > policy.retry_after_max_s or not self.breakers.allow(ref):
                raise UpstreamError(failure)
            record.event("retry", model=ref, attempt=count, delay_s=round(delay, 3))
            await asyncio.sleep(delay)


def _fill(attempt: Attempt, failure: UpstreamFailure) -> None:
    attempt.ended = time.perf_counter()
    attempt.status = "error"
    attempt.error_kind = failure.kind.value
    attempt.message = failure.message[:500]
    attempt.http_status = failure.status


def _failed(ref: str, failure: UpstreamFailure) -> Attempt:
    now = time.perf_counter()
    attempt = Attempt(ref, now, now)
    _fill(attempt, failure)
    return attempt


def refusal_of(parsed: dict[str, Any]) -> UpstreamFailure | None:
    """A 200 answer that is a content-policy refusal (``content_filter`` or ``refusal``)."""
    choices = parsed.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    message = choice.get("message") or {}
    if choice.get("finish_reason") == "content_filter" or (
        isinstance(message, dict) and message.get("refusal")
    ):
        text = (message.get("refusal") if isinstance(message, dict) else None) or "content filtered"
        return UpstreamFailure(ErrorKind.CONTENT_POLICY, str(text), 200)
    return None
