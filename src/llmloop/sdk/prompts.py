"""``client.prompts``: the prompt registry, and a cached fetch for applications.

:meth:`PromptsApi.fetch` is what an application calls on every request: the first call
asks the server, later calls answer from a local cache. A cached version older than
``ttl_s`` is still returned at once while a refresh runs in the background
(stale-while-revalidate); when the server cannot be reached the last good version keeps
being served. Rendering happens locally with the same sandboxed templates the server
uses, compiled once per version.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from llmloop.errors import LlmloopError
from llmloop.prompts.service import PromptCommit, PromptDiff, PromptSummary
from llmloop.prompts.templates import CompiledPrompt, compile_version
from llmloop.sdk.base import AsyncApi, AsyncRunner, Call, SyncApi, SyncRunner, as_type
from llmloop.store.prompts import ChatTemplate, PromptLabel, PromptVersion, Variable

log = logging.getLogger("llmloop.sdk.prompts")
DEFAULT_TTL_S = 60.0
DEFAULT_LABEL = "production"


def _base(project: str, name: str | None = None) -> str:
    path = f"/api/v1/projects/{project}/prompts"
    return f"{path}/{name}" if name else path


# ------------------------------------------------------------------------- calls


def list_prompts(project: str) -> Call[list[PromptSummary]]:
    return Call("GET", _base(project), as_type(list[PromptSummary]))


def get_prompt(project: str, name: str) -> Call[PromptSummary]:
    return Call("GET", _base(project, name), as_type(PromptSummary))


def list_versions(project: str, name: str) -> Call[list[PromptVersion]]:
    return Call("GET", f"{_base(project, name)}/versions", as_type(list[PromptVersion]))


def get_version(project: str, name: str, ref: str) -> Call[PromptVersion]:
    return Call("GET", f"{_base(project, name)}/versions/{ref}", as_type(PromptVersion))


def content_body(
    messages: Sequence[ChatTemplate | Mapping[str, Any]] | None = None,
    text: str | None = None,
    variables: Sequence[Variable | Mapping[str, Any]] | None = None,
    params: Mapping[str, Any] | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    response_schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A version's content as the API takes it (``messages`` for chat, ``text`` for text)."""

    def plain(item: Any) -> Any:
        return item.model_dump(mode="json") if hasattr(item, "model_dump") else dict(item)

    body: dict[str, Any] = {
        "variables": [plain(v) for v in variables or []],
        "params": dict(params or {}),
    }
    if messages is not None:
        body["messages"] = [plain(m) for m in messages]
    if text is not None:
        body["text"] = text
    if tools is not None:
        body["tools"] = [dict(t) for t in tools]
    if response_schema is not None:
        body["response_schema"] = dict(response_schema)
    return body


def commit(
    project: str,
    name: str,
    content: dict[str, Any],
    message: str,
    labels: Sequence[str],
    create: bool,
) -> Call[PromptCommit]:
    body = {**content, "message": message, "labels": list(labels), "create": create}
    return Call("POST", f"{_base(project, name)}/versions", as_type(PromptCommit), json=body)


def move_label(
    project: str, name: str, label: str, version: str, reason: str | None
) -> Call[PromptLabel]:
    body = {"version": version, "reason": reason}
    return Call("PUT", f"{_base(project, name)}/labels/{label}", as_type(PromptLabel), json=body)


def diff(project: str, name: str, from_version: str, to_version: str) -> Call[PromptDiff]:
    params = {"from": from_version, "to": to_version}
    return Call("GET", f"{_base(project, name)}/diff", as_type(PromptDiff), params=params)


def render_remote(
    project: str, name: str, variables: Mapping[str, Any], version: str | None
) -> Call[list[dict[str, Any]]]:
    body = {"variables": dict(variables), "version": version}
    return Call(
        "POST", f"{_base(project, name)}/render", lambda data: list(data["messages"]), json=body
    )


# ------------------------------------------------------------------------- cache


@dataclass(slots=True)
class _Entry:
    version: PromptVersion
    fetched_at: float
    compiled: CompiledPrompt
    refreshing: bool = False


class PromptCache:
    """Fetched versions by (project, name, label or version); thread-safe."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[tuple[str, str, str], _Entry] = {}
        self._lock = threading.Lock()
        self.refresh_failures = 0

    def get(self, key: tuple[str, str, str]) -> tuple[_Entry | None, bool]:
        """The entry and whether it should be refreshed (True also claims the refresh)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None, False
            stale = self.clock() - entry.fetched_at >= self.ttl_s
            if stale and not entry.refreshing:
                entry.refreshing = True
                return entry, True
            return entry, False

    def put(self, key: tuple[str, str, str], version: PromptVersion) -> _Entry:
        with self._lock:
            old = self._entries.get(key)
            compiled = (
                old.compiled
                if old is not None and old.version.id == version.id
                else compile_version(version)
            )
            entry = _Entry(version=version, fetched_at=self.clock(), compiled=compiled)
            self._entries[key] = entry
            return entry

    def failed(self, key: tuple[str, str, str], error: BaseException) -> None:
        with self._lock:
            self.refresh_failures += 1
            entry = self._entries.get(key)
            if entry is not None:
                entry.refreshing = False
        log.warning(
            "refreshing prompt %s/%s@%s failed (%s); serving the cached version", *key, error
        )

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _key(project: str, name: str, ref: str | None) -> tuple[str, str, str]:
    return (project, name, ref or DEFAULT_LABEL)


# ------------------------------------------------------------------------- APIs


class PromptsApi(SyncApi):
    def __init__(self, client: SyncRunner, *, ttl_s: float = DEFAULT_TTL_S) -> None:
        super().__init__(client)
        self.cache = PromptCache(ttl_s)

    def list(self) -> list[PromptSummary]:
        return self._run(list_prompts(self._project))

    def get(self, name: str) -> PromptSummary:
        return self._run(get_prompt(self._project, name))

    def versions(self, name: str) -> builtins.list[PromptVersion]:
        return self._run(list_versions(self._project, name))

    def version(self, name: str, ref: str = "latest") -> PromptVersion:
        """One version from the server (no cache): label, number (``v2``) or id."""
        return self._run(get_version(self._project, name, ref))

    def create(
        self, name: str, *, message: str = "", labels: Sequence[str] = (), **content: Any
    ) -> PromptCommit:
        """Commit a version (the prompt is created when missing); see :func:`content_body`."""
        call = commit(self._project, name, content_body(**content), message, labels, True)
        return self._run(call)

    def label(self, name: str, label: str, version: str, reason: str | None = None) -> PromptLabel:
        return self._run(move_label(self._project, name, label, version, reason))

    def diff(self, name: str, from_version: str, to_version: str = "latest") -> PromptDiff:
        return self._run(diff(self._project, name, from_version, to_version))

    def fetch(self, name: str, ref: str = DEFAULT_LABEL) -> PromptVersion:
        """The version ``ref`` points at, through the local cache (see the module doc)."""
        return self._entry(name, ref).version

    def render(
        self, name: str, variables: Mapping[str, Any] | None = None, ref: str = DEFAULT_LABEL
    ) -> builtins.list[dict[str, Any]]:
        """Chat messages rendered locally from the cached version."""
        return self._entry(name, ref).compiled(variables or {})

    def _entry(self, name: str, ref: str) -> _Entry:
        key = _key(self._project, name, ref)
        entry, refresh = self.cache.get(key)
        if entry is None:
            return self.cache.put(key, self._run(get_version(self._project, name, ref)))
        if refresh:
            threading.Thread(
                target=self._refresh, args=(key,), daemon=True, name=f"llmloop-prompt-{name}"
            ).start()
        return entry

    def _refresh(self, key: tuple[str, str, str]) -> None:
        try:
            self.cache.put(key, self._run(get_version(*key)))
        except (LlmloopError, httpx.HTTPError, OSError) as exc:
            self.cache.failed(key, exc)


class AsyncPromptsApi(AsyncApi):
    def __init__(self, client: AsyncRunner, *, ttl_s: float = DEFAULT_TTL_S) -> None:
        super().__init__(client)
        self.cache = PromptCache(ttl_s)
        self._tasks: set[asyncio.Task[None]] = set()

    async def list(self) -> list[PromptSummary]:
        return await self._run(list_prompts(self._project))

    async def get(self, name: str) -> PromptSummary:
        return await self._run(get_prompt(self._project, name))

    async def versions(self, name: str) -> builtins.list[PromptVersion]:
        return await self._run(list_versions(self._project, name))

    async def version(self, name: str, ref: str = "latest") -> PromptVersion:
        return await self._run(get_version(self._project, name, ref))

    async def create(
        self, name: str, *, message: str = "", labels: Sequence[str] = (), **content: Any
    ) -> PromptCommit:
        call = commit(self._project, name, content_body(**content), message, labels, True)
        return await self._run(call)

    async def label(
        self, name: str, label: str, version: str, reason: str | None = None
    ) -> PromptLabel:
        return await self._run(move_label(self._project, name, label, version, reason))

    async def diff(self, name: str, from_version: str, to_version: str = "latest") -> PromptDiff:
        return await self._run(diff(self._project, name, from_version, to_version))

    async def fetch(self, name: str, ref: str = DEFAULT_LABEL) -> PromptVersion:
        return (await self._entry(name, ref)).version

    async def render(
        self, name: str, variables: Mapping[str, Any] | None = None, ref: str = DEFAULT_LABEL
    ) -> builtins.list[dict[str, Any]]:
        return (await self._entry(name, ref)).compiled(variables or {})

    async def _entry(self, name: str, ref: str) -> _Entry:
        key = _key(self._project, name, ref)
        entry, refresh = self.cache.get(key)
        if entry is None:
            return self.cache.put(key, await self._run(get_version(self._project, name, ref)))
        if refresh:
            task = asyncio.create_task(self._refresh(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return entry

    async def _refresh(self, key: tuple[str, str, str]) -> None:
        try:
            self.cache.put(key, await self._run(get_version(*key)))
        except (LlmloopError, httpx.HTTPError, OSError) as exc:
            self.cache.failed(key, exc)
