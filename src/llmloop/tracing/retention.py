"""Trace retention: delete traces older than ``LLMLOOP_TRACE_RETENTION_DAYS``.

:func:`prune_expired` runs one pass (every project, bounded batches, see
:meth:`llmloop.store.traces.TraceRepository.prune`); :func:`start_retention_task` runs
it in the server's background when the setting is above 0: once at startup, then every
:data:`INTERVAL_S`. A failing pass is logged and retried at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from llmloop.store.database import Database
from llmloop.store.traces_types import PruneResult
from llmloop.tracing.service import TraceService

log = logging.getLogger("llmloop.tracing.retention")

INTERVAL_S = 3600.0


def prune_expired(
    db: Database, retention_days: int, *, now: datetime | None = None, batch_size: int = 1000
) -> PruneResult:
    """Delete, in every project, the traces that started more than ``retention_days``
    days before ``now``; ``retention_days`` 0 deletes nothing."""
    if retention_days <= 0:
        return PruneResult()
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    return TraceService(db).prune(None, cutoff, batch_size=batch_size)


async def _loop(db: Database, retention_days: int, interval_s: float) -> None:
    while True:
        try:
            result = await asyncio.to_thread(prune_expired, db, retention_days)
        except Exception:  # a failed pass must not end the task: the next one retries
            log.exception("trace retention pass failed; retrying in %.0f s", interval_s)
        else:
            if result.traces:
                log.info("trace retention: deleted %d traces, %d spans in %d batches",
                         result.traces, result.spans, result.batches)  # fmt: skip
        await asyncio.sleep(interval_s)


def start_retention_task(
    db: Database, retention_days: int, interval_s: float = INTERVAL_S
) -> asyncio.Task[None] | None:
    """The background retention task (None when ``retention_days`` is 0)."""
    if retention_days <= 0:
        return None
    return asyncio.create_task(_loop(db, retention_days, interval_s), name="llmloop-retention")
