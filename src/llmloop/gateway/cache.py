"""The optional exact-match response cache: same project, same upstream request, same answer.

Keyed by a hash of the request as sent upstream (keys sorted, so field order does not
matter) and the project; only complete non-streamed answers are kept, for
``gateway_cache_ttl_s`` seconds, at most ``max_entries`` (least recently used go first).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

import orjson

__all__ = ["ResponseCache", "cache_key"]


def cache_key(project_id: str, target: str, body: dict[str, Any]) -> str:
    raw = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(f"{project_id}\0{target}\0".encode() + raw).hexdigest()


class ResponseCache:
    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes, dict[str, Any]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> tuple[bytes, dict[str, Any]] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1], entry[2]

    def put(self, key: str, body: bytes, parsed: dict[str, Any]) -> None:
        self._entries[key] = (time.monotonic() + self.ttl_s, body, parsed)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
