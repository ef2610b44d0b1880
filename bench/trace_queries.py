"""Trace list and aggregate-chart queries on a large SQLite store: latency per query.

Fills a fresh SQLite file with ``--spans`` spans (default 1,000,000: traces of 4 spans —
an agent, two LLM calls, a tool — spread over 30 days, 3 models, 2 tags, 5% failing)
through ``TraceRepository.insert``, then times each query ``--repeat`` times.

Baseline in the same run: ``SELECT count(*)`` of the project's traces over the same
range through the same connection pool — the cost of touching the index at all.
Reported: p50/p95 per query and the p95 ratio to the baseline's p95.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import percentile, repeat, save
from sqlalchemy import func, select

from llmloop.store import Database, ProjectRepository
from llmloop.store.migrate import upgrade
from llmloop.store.trace_stats_types import TraceStatsQuery
from llmloop.store.traces import TraceRepository, traces
from llmloop.store.traces_types import Span, TraceFilter

END = datetime(2026, 1, 31, tzinfo=UTC)
DAYS = 30
MODELS = ("gpt-4o-mini", "gpt-4o", "llama-3-8b")


def _trace(i: int, total: int) -> list[Span]:
    trace_id = f"{i:032x}"
    start = END - timedelta(days=DAYS) + timedelta(seconds=DAYS * 86_400 * i / total)
    model = MODELS[i % 3]
    failed = i % 20 == 0
    root_id = f"{i * 4 + 1:016x}"
    spans = [Span(trace_id=trace_id, span_id=root_id, name=f"agent-{i % 7}", kind="agent",
                  start_time=start, end_time=start + timedelta(milliseconds=900),
                  duration_ms=900 + i % 500, status="error" if failed else "ok",
                  tags=["prod" if i % 2 else "beta"], inputs={"q": f"question {i}"})]  # fmt: skip
    for k, kind in enumerate(("llm", "llm", "tool"), start=2):
        offset = timedelta(milliseconds=100 * k)
        spans.append(Span(trace_id=trace_id, span_id=f"{i * 4 + k:016x}", parent_span_id=root_id,
                          name=kind, kind=kind, start_time=start + offset,
                          end_time=start + offset + timedelta(milliseconds=200),
                          duration_ms=200, model=model if kind == "llm" else None,
                          input_tokens=50, output_tokens=20, cost_usd=0.0001))  # fmt: skip
    return spans


def fill(repo: TraceRepository, project_id: str, n_spans: int) -> float:
    total = n_spans // 4
    started = time.perf_counter()
    batch: list[Span] = []
    for i in range(total):
        batch += _trace(i, total)
        if len(batch) >= 4000:
            repo.insert(project_id, batch)
            batch = []
    if batch:
        repo.insert(project_id, batch)
    return time.perf_counter() - started


def queries(repo: TraceRepository, project_id: str) -> dict[str, Any]:
    day, week = END - timedelta(days=1), END - timedelta(days=7)
    return {
        "list newest 50": lambda: repo.list(project_id, TraceFilter()),
        "list model=gpt-4o, 7d": lambda: repo.list(
            project_id, TraceFilter(model="gpt-4o", since=week)
        ),
        "list status=error": lambda: repo.list(project_id, TraceFilter(status="error")),
        "list tag=beta": lambda: repo.list(project_id, TraceFilter(tags=["beta"])),
        "list text (1 match), 24h": lambda: repo.list(
            project_id, TraceFilter(text="question 249000", since=day)
        ),
        "stats hour, 24h (UI chart)": lambda: repo.stats(project_id, TraceStatsQuery(since=day)),
        "stats hour by model, 7d": lambda: repo.stats(
            project_id, TraceStatsQuery(since=week, group_by="model")
        ),
        "stats day, 30d (all)": lambda: repo.stats(project_id, TraceStatsQuery(bucket="day")),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(db)
        project_id = ProjectRepository(db).create("bench").id
        repo = TraceRepository(db)
        seconds = fill(repo, project_id, args.spans)
        print(f"stored {repo.count_spans(project_id)} spans in {seconds:.1f} s", flush=True)
        t = traces.c
        count = select(func.count()).where(
            t.project_id == project_id, t.start_time >= END - timedelta(days=1)
        )

        def baseline() -> None:
            with db.connect() as c:
                c.execute(count).scalar_one()

        base = repeat(baseline, n=args.repeat, warmup=2)
        base_p95 = percentile(base, 95)
        rows = [_row("baseline: count(*) of 24h traces", base, base_p95)]
        for name, fn in queries(repo, project_id).items():
            rows.append(_row(name, repeat(fn, n=args.repeat, warmup=1), base_p95))
            print(rows[-1], flush=True)
        db.close()
    notes = (f"{args.spans:,} spans ({args.spans // 4:,} traces) in SQLite, filled in "
             f"{seconds:.0f} s; {args.repeat} runs per query; target p95 < 100 ms.")  # fmt: skip
    save("trace_queries", rows, notes=notes)
    return 0


def _row(name: str, samples: list[float], base_p95: float) -> dict[str, Any]:
    p95 = percentile(samples, 95)
    return {"query": name, "p50_ms": round(percentile(samples, 50) * 1e3, 2),
            "p95_ms": round(p95 * 1e3, 2), "p95_vs_baseline": round(p95 / base_p95, 1)}  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("LLMLOOP_LOG_LEVEL", "warning")
    sys.exit(main())
