"""Limits per API key: requests per minute, tokens per minute, cost per day.

Fixed windows (the current UTC minute, the current UTC day). A call is admitted when
the key's requests this minute are under the limit and its tokens this minute and cost
today have not reached theirs; its tokens and cost are added once it is answered. A
refused call gets 429 with ``Retry-After`` (seconds to the next window).

:class:`MemoryLimits` counts in this process (one replica). :class:`RedisLimits` keeps
the counters in Redis (``LLMLOOP_REDIS_URL``), so replicas share them: the admission
check is one Lua script (atomic), the accounting one pipeline.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from llmloop.gateway.errors import GatewayError

__all__ = ["LimitPolicy", "Limits", "MemoryLimits", "RedisLimits", "make_limits"]

MINUTE = 60
DAY = 86_400


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    cost_per_day: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.requests_per_minute or self.tokens_per_minute or self.cost_per_day)


def _refusal(what: str, limit: float, retry_after_s: float) -> GatewayError:
    wait = max(1, math.ceil(retry_after_s))
    return GatewayError(
        429,
        f"this API key reached its limit of {limit:g} {what}; retry in {wait} s or ask an "
        "admin to raise LLMLOOP_GATEWAY_" + what.upper().replace(" ", "_").replace("/", "_PER_"),
        code="rate_limit_exceeded",
        headers={"retry-after": str(wait)},
    )


def _to_next(window: int, now: float) -> float:
    return window - (now % window)


class Limits(Protocol):
    policy: LimitPolicy

    async def admit(self, key_id: str) -> None:
        """Count one request; raise GatewayError 429 when a limit is reached."""
        ...

    async def record(self, key_id: str, tokens: int, cost_usd: float | None) -> None:
        """Add an answered call's tokens and cost."""
        ...

    async def aclose(self) -> None: ...


class MemoryLimits:
    def __init__(self, policy: LimitPolicy) -> None:
        self.policy = policy
        # key id -> [minute, requests, tokens, day, cost]
        self._counters: dict[str, list[Any]] = {}

    def _counter(self, key_id: str, now: float) -> list[Any]:
        minute, day = int(now // MINUTE), int(now // DAY)
        counter = self._counters.get(key_id)
        if counter is None:
            counter = self._counters[key_id] = [minute, 0, 0, day, 0.0]
        if counter[0] != minute:
            counter[0], counter[1], counter[2] = minute, 0, 0
        if counter[3] != day:
            counter[3], counter[4] = day, 0.0
        return counter

    async def admit(self, key_id: str) -> None:
        now = time.time()
        counter = self._counter(key_id, now)
        p = self.policy
        if p.requests_per_minute and counter[1] >= p.requests_per_minute:
            raise _refusal("requests/minute", p.requests_per_minute, _to_next(MINUTE, now))
        if p.tokens_per_minute and counter[2] >= p.tokens_per_minute:
            raise _refusal("tokens/minute", p.tokens_per_minute, _to_next(MINUTE, now))
        if p.cost_per_day and counter[4] >= p.cost_per_day:
            raise _refusal("cost/day", p.cost_per_day, _to_next(DAY, now))
        counter[1] += 1

    async def record(self, key_id: str, tokens: int, cost_usd: float | None) -> None:
        counter = self._counter(key_id, time.time())
        counter[2] += tokens
        counter[4] += cost_usd or 0.0

    async def aclose(self) -> None:
        return None


# KEYS: requests (minute), tokens (minute), cost (day). ARGV: the three limits (0: none).
_ADMIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 120) end
local rpm, tpm, cpd = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if rpm > 0 and n > rpm then redis.call('DECR', KEYS[1]) return 1 end
if tpm > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= tpm then
  redis.call('DECR', KEYS[1]) return 2 end
if cpd > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= cpd then
  redis.call('DECR', KEYS[1]) return 3 end
return 0
"""


class RedisLimits:
    def __init__(self, policy: LimitPolicy, url: str, prefix: str = "llmloop:gw") -> None:
        from redis import asyncio as aioredis  # the optional redis extra

        self.policy = policy
        self.prefix = prefix
        self.redis = aioredis.from_url(url)
        self._admit = self.redis.register_script(_ADMIT)

    def _keys(self, key_id: str, now: float) -> list[str]:
        minute, day = int(now // MINUTE), int(now // DAY)
        base = f"{self.prefix}:{key_id}"
        return [f"{base}:r:{minute}", f"{base}:t:{minute}", f"{base}:c:{day}"]

    async def admit(self, key_id: str) -> None:
        now = time.time()
        p = self.policy
        args = [p.requests_per_minute or 0, p.tokens_per_minute or 0, p.cost_per_day or 0]
        verdict = int(await self._admit(keys=self._keys(key_id, now), args=args))
        if verdict == 1:
            raise _refusal("requests/minute", args[0], _to_next(MINUTE, now))
        if verdict == 2:
            raise _refusal("tokens/minute", args[1], _to_next(MINUTE, now))
        if verdict == 3:
            raise _refusal("cost/day", args[2], _to_next(DAY, now))

    async def record(self, key_id: str, tokens: int, cost_usd: float | None) -> None:
        _, tokens_key, cost_key = self._keys(key_id, time.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            if tokens:
                pipe.incrby(tokens_key, tokens)
                pipe.expire(tokens_key, 120)
            if cost_usd:
                pipe.incrbyfloat(cost_key, cost_usd)
                pipe.expire(cost_key, DAY + 3600)
            await pipe.execute()

    async def aclose(self) -> None:
        await self.redis.aclose()


def make_limits(policy: LimitPolicy, redis_url: str | None) -> Limits | None:
    """None when no limit is set; Redis-backed when a Redis URL is configured."""
    if not policy.active:
        return None
    if redis_url:
        return RedisLimits(policy, redis_url)
    return MemoryLimits(policy)
