"""Queue rules on both dialects: concurrent pulls, settling, re-opening, progress."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from llmloop.annotation import LabelSchema, Queues
from llmloop.runtime import Runtime
from support import Tenant

SCHEMA = LabelSchema(kind="classes", classes=["refund", "shipping", "bug"])


def test_concurrent_pulls_never_share_the_last_place(
    runtime: Runtime, acme_tickets: Tenant
) -> None:
    queues = Queues(runtime.db, runtime.tenancy.audit)
    project = acme_tickets.project.id
    queues.create_from_dataset(project, "q", dataset="tickets", schema=SCHEMA,
                               record_ids=["t0", "t1", "t2"], actor="test")  # fmt: skip
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(lambda n: queues.next_item(project, "q", f"a{n}"), range(6)))
    items = [i.id for i in got if i is not None]
    assert len(items) == 3 and len(set(items)) == 3
    assert sum(i is None for i in got) == 3


def test_settling_reopening_and_progress(runtime: Runtime, acme_tickets: Tenant) -> None:
    queues = Queues(runtime.db, runtime.tenancy.audit)
    project = acme_tickets.project.id
    queues.create_from_dataset(project, "q", dataset="tickets", schema=SCHEMA, required=2,
                               record_ids=["t0", "t1"], actor="test")  # fmt: skip
    first = queues.next_item(project, "q", "ann")
    assert first is not None
    queues.submit(project, "q", first.id, "ann", "bug")
    queues.submit(project, "q", first.id, "ann", "refund")  # replaces her answer
    view = queues.submit(project, "q", first.id, "bo", "refund")
    assert view.item.status == "resolved" and view.item.final == "refund"
    assert [a.value for a in view.annotations] == ["refund", "refund"]
    reopened = queues.submit(project, "q", first.id, "cy", "bug")  # a third opinion
    assert reopened.item.status == "disputed" and reopened.item.final is None

    progress = queues.summary(project, "q").progress
    assert (progress.items, progress.pending, progress.disputed) == (2, 1, 1)
    assert progress.submitted == 3 and progress.needed == 2 and progress.done == 0
    skipped = queues.skip(project, "q", first.id, "cy")  # withdrawing re-settles
    assert skipped.item.status == "resolved" and skipped.item.final == "refund"
    assert queues.summary(project, "q").progress.skipped == 1
