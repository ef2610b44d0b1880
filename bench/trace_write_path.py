"""The span write path alone: ``TraceRepository.insert`` spans/s, with and without the
hourly rollups it maintains in the same transaction.

Baseline in the same run: the same inserts with the rollup upsert switched off (what
the write path cost before rollups). Spans are inserted in groups of ``--batch`` (the
trace writer's group commit), traces of 4 spans as in ``trace_queries.py``, on a fresh
SQLite file (and a fresh PostgreSQL schema when one answers on 127.0.0.1:5432).
Reported: spans/s per variant and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchlib import save
from trace_queries import _trace

from llmloop.store import Database, ProjectRepository
from llmloop.store import trace_rollups as rollups
from llmloop.store.migrate import upgrade
from llmloop.store.traces import TraceRepository
from llmloop.store.traces_types import Span

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def database(dialect: str) -> Iterator[Database]:
    if dialect == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
            upgrade(db)
            yield db
            db.close()
        return
    import sqlalchemy as sa

    schema = f"bench_write_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_BASE)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        db = Database(f"{PG_BASE}?options=-csearch_path%3D{schema}")
        upgrade(db)
        yield db
        db.close()
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run(dialect: str, n_spans: int, batch: int, with_rollups: bool) -> float:
    spans: list[Span] = []
    total = n_spans // 4
    for i in range(total):
        spans += _trace(i, total)
    original = rollups.apply
    if not with_rollups:
        rollups.apply = lambda *a, **k: None  # type: ignore[assignment]
    try:
        with database(dialect) as db:
            repo = TraceRepository(db)
            project_id = ProjectRepository(db).create("bench").id
            started = time.perf_counter()
            for i in range(0, len(spans), batch):
                repo.insert(project_id, spans[i : i + batch])
            seconds = time.perf_counter() - started
            assert repo.count_spans(project_id) == len(spans)
    finally:
        rollups.apply = original  # type: ignore[assignment]
    return len(spans) / seconds


def pg_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return True
    except OSError:
        return False


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--spans", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args()
    rows: list[dict[str, Any]] = []
    for dialect in ("sqlite", "postgresql"):
        if dialect == "postgresql" and not pg_up():
            print("postgresql skipped: nothing on 127.0.0.1:5432")
            continue
        # interleaved runs, best of each: the machine is shared, noise only slows down
        rates: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(a.repeat):
            for variant in (False, True):
                rates[variant].append(run(dialect, a.spans, a.batch, variant))
        base = max(rates[False])
        for variant, label in ((False, "without rollups (baseline)"), (True, "with rollups")):
            best = max(rates[variant])
            rows.append({"dialect": dialect, "variant": label, "spans_per_s": round(best),
                         "vs_baseline": round(best / base, 3)})  # fmt: skip
            print(rows[-1], flush=True)
    save("trace_write_path", rows, notes=(
        f"{a.spans:,} spans (traces of 4) per run, groups of {a.batch} spans per "
        f"transaction, best of {a.repeat} interleaved runs per variant; shared 2-core machine."
    ))  # fmt: skip
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LLMLOOP_LOG_LEVEL", "warning")
    sys.exit(main())
