"""Concurrent writers on SQLite (WAL, busy timeout, BEGIN IMMEDIATE) and PostgreSQL.

Baseline in the same run: one thread appending audit events. Then 8 threads doing the same
through the repositories; every row must be present and no "database is locked" may occur.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import uuid

from benchlib import save
from sqlalchemy import create_engine, text

from llmloop.store import AuditRepository, ProjectRepository, open_database

PER_THREAD = 300
PG = os.environ.get(
    "LLMLOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def run(url: str, threads: int) -> tuple[float, int, int]:
    db = open_database(url)
    project = ProjectRepository(db).create(f"bench-{uuid.uuid4().hex[:8]}")
    audit = AuditRepository(db)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(PER_THREAD):
                audit.record(
                    project.id, actor="bench", action="write", object_type="x", object_id=str(i)
                )
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    stored = audit.count(project.id)
    db.close()
    return elapsed, stored, len(errors)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", f"sqlite:///{tmp}/bench.db")]
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as c:
                c.execute(text(f'CREATE SCHEMA "{schema}"'))
            targets.append(("postgresql", f"{PG}?options=-csearch_path%3D{schema}"))
        except Exception as exc:
            print(f"PostgreSQL unavailable, skipping it: {exc}", file=sys.stderr)
        for dialect, url in targets:
            base_s, base_n, _ = run(url, 1)
            base_rate = base_n / base_s
            for threads in (8,):
                s, n, errs = run(url, threads)
                rows.append(
                    {
                        "dialect": dialect,
                        "threads": threads,
                        "rows_expected": threads * PER_THREAD,
                        "rows_stored": n,
                        "errors": errs,
                        "writes_per_s": round(n / s),
                        "one_thread_writes_per_s": round(base_rate),
                        "ratio": round((n / s) / base_rate, 2),
                    }
                )
        if len(targets) > 1:
            with admin.connect() as c:
                c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    path = save("store_writes", rows, notes="Each write is its own transaction (commit per event).")
    print(path.read_text())


if __name__ == "__main__":
    main()
