"""Who is running a run: an owner id (``host:pid``) stored on the run, the runs this
process is executing, and whether a run marked ``running`` was abandoned (its process
died), which makes it resumable."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from llmloop.records import utcnow
from llmloop.store.evaluations import EvalRun

STALE_AFTER = timedelta(minutes=10)
"""A run on another host is abandoned when its heartbeat is older than this."""

_ACTIVE: set[str] = set()


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def mark_active(run_id: str) -> None:
    _ACTIVE.add(run_id)


def mark_done(run_id: str) -> None:
    _ACTIVE.discard(run_id)


def is_active_here(run_id: str) -> bool:
    return run_id in _ACTIVE


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def is_abandoned(run: EvalRun) -> bool:
    """True when a ``running`` run has no live process behind it."""
    if run.status != "running":
        return False
    host, _, pid = (run.owner or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return not is_active_here(run.id)
        return not _pid_alive(int(pid))
    beat = run.heartbeat_at or run.created_at
    return utcnow() - beat > STALE_AFTER
