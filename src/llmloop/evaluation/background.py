"""Runs the server executes in the background: one asyncio task per run on the server's
event loop (model calls are I/O; store writes go to worker threads), cancellable, and
cancelled on shutdown, which leaves each run ``interrupted`` and resumable."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Coroutine
from typing import Any

from llmloop.runtime import Runtime

log = logging.getLogger(__name__)


class BackgroundRuns:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def start(self, key: str, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` (an evaluation or an experiment, named ``key``) in the background."""
        task = asyncio.get_running_loop().create_task(work, name=f"llmloop-{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda t: self._done(key, t))

    def _done(self, key: str, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background %s failed: %r", key, task.exception())

    def running(self, key: str) -> bool:
        return key in self._tasks

    def cancel(self, key: str) -> bool:
        """Cancel a background run of this server; False when it runs nowhere here."""
        task = self._tasks.get(key)
        if task is None:
            return False
        task.cancel()
        return True

    async def wait(self, key: str) -> None:
        task = self._tasks.get(key)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def shutdown(self) -> None:
        """Cancel every run (each is marked interrupted) and wait for them to stop."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


_BY_RUNTIME: weakref.WeakKeyDictionary[Runtime, BackgroundRuns] = weakref.WeakKeyDictionary()


def background_runs(runtime: Runtime) -> BackgroundRuns:
    """The background runs of ``runtime`` (one registry per runtime)."""
    runs = _BY_RUNTIME.get(runtime)
    if runs is None:
        runs = _BY_RUNTIME[runtime] = BackgroundRuns()
    return runs
