"""The gateway: an OpenAI-compatible call from the caller's key to a traced answer.

Per call: authenticate the key (cached), check the request, resolve the plan and pick
the arm, check the key's limits, render the prompt, answer from the cache or call the
upstream (retries, circuit breakers, fallbacks), trace it (queued, never awaited),
account tokens and cost, and send a shadow copy when the plan has one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmloop.gateway.attempts import Caller, refusal_of
from llmloop.gateway.auth import AuthCache, bearer
from llmloop.gateway.breaker import Breakers
from llmloop.gateway.cache import ResponseCache, cache_key
from llmloop.gateway.errors import GatewayError
from llmloop.gateway.limits import LimitPolicy, Limits, make_limits
from llmloop.gateway.plan import Arm, PlanSource, RoutePlan
from llmloop.gateway.requests import (
    LOCAL_FIELDS,
    CallMeta,
    parse_body,
    validate_chat,
    validate_embeddings,
)
from llmloop.gateway.routing import Router, choose_arm, render_messages
from llmloop.gateway.streaming import StreamRelay
from llmloop.gateway.traces import CallRecord, Submit, TraceSink
from llmloop.gateway.upstreams import Upstream, UpstreamError, Upstreams
from llmloop.gateway.wire import HttpPool
from llmloop.providers.base import Usage
from llmloop.providers.registry import ProviderRegistry
from llmloop.providers.transport import ErrorKind, RetryPolicy, UpstreamFailure
from llmloop.settings import Settings
from llmloop.store.traces_types import SpanKind
from llmloop.tenancy import Principal, Tenancy

__all__ = ["Gateway", "Incoming", "Reply"]

log = logging.getLogger("llmloop.gateway")
JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class Incoming:
    """The headers the gateway reads."""

    authorization: bytes | None = None
    environment: str | None = None
    session: str | None = None


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None  # SSE frames, for a streamed answer


def _header_list(record: CallRecord | None, extra: dict[str, str] | None = None) -> list[Any]:
    headers = [(b"content-type", JSON)]
    if record is not None:
        headers.append((b"x-llmloop-trace-id", record.trace_id.encode()))
        if record.arm is not None:
            headers.append((b"x-llmloop-arm", record.arm.encode()))
    for name, value in (extra or {}).items():
        headers.append((name.encode("latin-1"), value.encode("latin-1")))
    return headers


class Gateway:
    def __init__(
        self,
        settings: Settings,
        tenancy: Tenancy,
        registry: ProviderRegistry,
        *,
        plans: Callable[[], PlanSource | None] = lambda: None,
        submit: Submit | None = None,
    ) -> None:
        self.settings = settings
        self.auth = AuthCache(tenancy, settings.gateway_auth_ttl_s)
        self.pool = HttpPool()
        self.upstreams = Upstreams(registry, self.pool)
        self.router = Router(plans)
        self.breakers = Breakers(
            settings.gateway_breaker_failures, settings.gateway_breaker_cooldown_s
        )
        policy = RetryPolicy(
            max_retries=settings.max_retries,
            timeout_s=settings.request_timeout_s,
            backoff_initial_s=settings.gateway_retry_backoff_s,
        )
        self.caller = Caller(self.upstreams, self.breakers, policy)
        limit_policy = LimitPolicy(
            settings.gateway_requests_per_minute,
            settings.gateway_tokens_per_minute,
            settings.gateway_cost_per_day,
        )
        self.limits: Limits | None = make_limits(limit_policy, settings.redis_url)
        ttl = settings.gateway_cache_ttl_s
        self.cache = ResponseCache(ttl) if ttl else None
        self.traces = TraceSink(submit)
        self.prices = registry.prices
        self.registry = registry
        self._background: set[asyncio.Task[Any]] = set()
        self._models: tuple[float, bytes] | None = None

    # -- entry points --------------------------------------------------------------------

    async def chat(self, raw: bytes, incoming: Incoming) -> Reply:
        principal = await self.auth.principal(bearer(incoming.authorization))
        body = parse_body(raw)
        model, meta = validate_chat(
            body, environment=incoming.environment, session=incoming.session
        )
        project_id = principal.project.id
        plan = await self.router.plan(project_id, model, meta.environment)
        await self._admit(principal)
        arm = choose_arm(plan, meta)
        messages = render_messages(arm, meta, body)
        forward = _upstream_body(arm, body, messages)
        record = self._start("llm", project_id, model, {"messages": messages}, plan, arm, meta)
        if plan.shadow is not None:
            self._spawn(self._shadow(plan, plan.shadow, forward, project_id, meta))
        if body.get("stream") is True:
            return await self._stream(principal, arm, record, forward, body)
        return await self._complete(principal, arm, record, forward)

    async def embeddings(self, raw: bytes, incoming: Incoming) -> Reply:
        principal = await self.auth.principal(bearer(incoming.authorization))
        body = parse_body(raw)
        model = validate_embeddings(body)
        meta = CallMeta(body.get("user"), incoming.session, incoming.environment, None)
        project_id = principal.project.id
        plan = await self.router.plan(project_id, model, meta.environment)
        await self._admit(principal)
        arm = choose_arm(plan, meta)
        forward = {k: v for k, v in body.items() if k not in LOCAL_FIELDS}
        forward = {**arm.params, **forward}
        record = self._start(
            "embedding", project_id, model, {"input": body["input"]}, plan, arm, meta
        )
        try:
            upstream, (answer, parsed) = await self.caller.call(
                arm, record, lambda up: up.embed(forward)
            )
        except GatewayError as exc:
            raise self._failed(record, exc) from None
        usage = parsed.get("usage") or {}
        self._account(record, upstream, parsed.get("model"), usage)
        record.outputs = {"count": len(parsed.get("data") or [])}
        await self._finish(principal, record)
        return Reply(200, answer, _header_list(record))

    async def models(self, incoming: Incoming) -> Reply:
        await self.auth.principal(bearer(incoming.authorization))
        now = asyncio.get_running_loop().time()
        if self._models is None or self._models[0] < now:
            listed = await self.registry.list_all_models()
            data = [
                {"id": m.id, "object": "model", "created": 0, "owned_by": m.provider}
                for m in listed
            ]
            self._models = (now + 60.0, orjson.dumps({"object": "list", "data": data}))
        return Reply(200, self._models[1], _header_list(None))

    # -- one call ------------------------------------------------------------------------

    def _start(
        self,
        kind: SpanKind,
        project_id: str,
        model: str,
        inputs: Any,
        plan: RoutePlan,
        arm: Arm,
        meta: CallMeta,
    ) -> CallRecord:
        record = self.traces.start(kind, project_id, model, inputs)
        record.user, record.session = meta.user, meta.session
        if plan.deployment is not None:
            record.deployment, record.arm = plan.deployment, arm.name
            record.environment = plan.environment or meta.environment
            record.version_id = arm.version_id
        return record

    async def _admit(self, principal: Principal) -> None:
        if self.limits is not None and principal.key is not None:
            await self.limits.admit(principal.key.id)

    async def _complete(
        self, principal: Principal, arm: Arm, record: CallRecord, forward: dict[str, Any]
    ) -> Reply:
        key = None
        if self.cache is not None:
            key = cache_key(record.project_id, arm.model, forward)
            hit = self.cache.get(key)
            if hit is not None:
                record.attributes["llmloop.cache_hit"] = True
                record.model, record.provider = hit[1].get("model"), arm.model.partition("/")[0]
                record.outputs = _output_of(hit[1])
                self.traces.finish(record)
                return Reply(200, hit[0], _header_list(record, {"x-llmloop-cache": "hit"}))
        try:
            upstream, (answer, parsed) = await self.caller.call(
                arm, record, lambda up: up.complete(forward), lambda r: refusal_of(r[1])
            )
        except GatewayError as exc:
            raise self._failed(record, exc) from None
        self._account(record, upstream, parsed.get("model"), parsed.get("usage") or {})
        record.outputs = _output_of(parsed)
        await self._finish(principal, record)
        if key is not None and self.cache is not None:
            self.cache.put(key, answer, parsed)
        return Reply(200, answer, _header_list(record))

    async def _stream(
        self,
        principal: Principal,
        arm: Arm,
        record: CallRecord,
        forward: dict[str, Any],
        body: dict[str, Any],
    ) -> Reply:
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        forward = {**forward, "stream": True, "stream_options": {"include_usage": True}}
        try:
            upstream, (events, first) = await self.caller.call(
                arm, record, lambda up: _open_stream(up, forward)
            )
        except GatewayError as exc:
            raise self._failed(record, exc) from None
        relay = StreamRelay(events, first, wants_usage, record)

        def done(relay: StreamRelay) -> None:
            self._account(record, upstream, relay.model, relay.usage)
            self.traces.finish(record)
            if self.limits is not None and principal.key is not None:
                tokens, cost = record.input_tokens + record.output_tokens, record.cost_usd
                self._spawn(self.limits.record(principal.key.id, tokens, cost))

        relay.on_done = done
        headers = _header_list(record)
        headers[0] = (b"content-type", b"text/event-stream")
        headers.append((b"cache-control", b"no-cache"))
        return Reply(200, headers=headers, stream=relay.frames())

    def _account(
        self, record: CallRecord, upstream: Upstream, model: Any, usage: dict[str, Any]
    ) -> None:
        record.model = model if isinstance(model, str) and model else upstream.model
        record.provider = upstream.provider
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        record.input_tokens, record.output_tokens = prompt, completion
        if prompt or completion:
            counted = Usage(
                prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
            )
            cost = self.prices.cost(f"{upstream.provider}/{record.model}", counted)
            record.cost_usd = cost if cost is not None else self.prices.cost(upstream.ref, counted)

    async def _finish(self, principal: Principal, record: CallRecord) -> None:
        self.traces.finish(record)
        if self.limits is not None and principal.key is not None:
            tokens = record.input_tokens + record.output_tokens
            await self.limits.record(principal.key.id, tokens, record.cost_usd)

    def _failed(self, record: CallRecord, exc: GatewayError) -> GatewayError:
        record.status, record.message = "error", exc.message[:1000]
        record.attributes["llmloop.error.code"] = exc.code
        self.traces.finish(record)
        exc.headers["x-llmloop-trace-id"] = record.trace_id
        return exc

    async def _shadow(
        self,
        plan: RoutePlan,
        arm: Arm,
        forward: dict[str, Any],
        project_id: str,
        meta: CallMeta,
    ) -> None:
        forward = {k: v for k, v in forward.items() if k not in ("stream", "stream_options")}
        record = self._start(
            "llm", project_id, plan.model, {"messages": forward.get("messages")}, plan, arm, meta
        )
        record.tags.append("shadow")
        record.attributes["llmloop.shadow"] = True
        try:
            upstream, (_, parsed) = await self.caller.call(
                arm, record, lambda up: up.complete(forward)
            )
        except GatewayError as exc:
            self._failed(record, exc)
            return
        self._account(record, upstream, parsed.get("model"), parsed.get("usage") or {})
        record.outputs = _output_of(parsed)
        self.traces.finish(record)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.traces.flush()
        self.pool.close()
        if self.limits is not None:
            await self.limits.aclose()


def _upstream_body(arm: Arm, body: dict[str, Any], messages: list[Any]) -> dict[str, Any]:
    forward = {k: v for k, v in body.items() if k not in LOCAL_FIELDS}
    if arm.params:
        forward = {**arm.params, **forward}
    forward["messages"] = messages
    return forward


def _output_of(parsed: dict[str, Any]) -> Any:
    choices = parsed.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0].get("message")
    return None


async def _open_stream(
    upstream: Upstream, forward: dict[str, Any]
) -> tuple[AsyncIterator[bytes], bytes]:
    """The upstream's event stream and its first event (a failure before it is retried)."""
    events = aiter(upstream.stream(forward))
    try:
        first = await anext(events)
    except StopAsyncIteration:
        message = "the upstream ended the stream without sending anything"
        raise UpstreamError(UpstreamFailure(ErrorKind.SERVER, message, 200)) from None
    except BaseException:
        await events.aclose()  # type: ignore[attr-defined]
        raise
    return events, first
