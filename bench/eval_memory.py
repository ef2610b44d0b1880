"""Evaluation memory: a run over 10,000 and over 100,000 stored records.

Each size gets a fresh SQLite database and its dataset is committed by one child process;
another child process runs ``aevaluate`` over ``"bench@latest"`` (streamed from the store
in pages) with a fast async callable target, exact match and classification (whose
confusion matrix is read back from the store at the end), results written in batches,
aggregates with 1,000-resample bootstrap intervals. The child reports the peak of
Python allocations during the run (``tracemalloc``) and its peak RSS.

The same-run baseline is the 10,000-record run: the 100,000-record run should need about
the same memory (flat), apart from one float per record and score for the intervals.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchlib import save

from llmloop.data.datasets import Datasets
from llmloop.evaluation import Classification, aevaluate
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.settings import Settings

SIZES = (10_000, 100_000)
LABELS = ("billing", "shipping", "account")


def _runtime(folder: str) -> Runtime:
    return Runtime(Settings(data_dir=Path(folder), database_url=f"sqlite:///{folder}/bench.db"))


def make_dataset(folder: str, n: int) -> None:
    records = [
        Record(
            id=f"r{i}",
            inputs={"question": f"ticket number {i} about my {LABELS[i % 3]}"},
            expectations={"answer": f"ticket number {i}", "label": LABELS[i % 3]},
            metadata={"language": "en" if i % 2 else "de"},
        )
        for i in range(n)
    ]
    with _runtime(folder) as runtime:
        project = runtime.tenancy.ensure_project("default")
        Datasets(runtime.db, runtime.tenancy.audit).create(
            project.id, "bench", records=records, actor="bench"
        )


async def target(inputs: dict[str, Any]) -> dict[str, Any]:
    text: str = inputs["question"]
    label = next(label for label in LABELS if label in text)
    return {"text": text.rsplit(" about", 1)[0], "label": label if len(text) % 7 else "billing"}


def run_evaluation(folder: str) -> dict[str, Any]:
    with _runtime(folder) as runtime:
        tracemalloc.start()
        start = time.perf_counter()
        run = asyncio.run(
            aevaluate(
                target,
                "bench@latest",
                ["exact_match", Classification()],
                runtime=runtime,
                concurrency=32,
                cache=False,
            )
        )
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert run.status == "finished" and run.n_records == run.n_done, run
    return {
        "records": run.n_records,
        "seconds": round(seconds, 2),
        "records_per_s": round(run.n_records / seconds),
        "tracemalloc_peak_mb": round(peak / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "accuracy": round(run.aggregates["accuracy"].value or 0.0, 4),
    }


def child(command: str, folder: str, n: int) -> dict[str, Any] | None:
    args = [sys.executable, __file__, command, folder, str(n)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1]) if command == "run" else None


def main() -> None:
    rows = []
    for n in SIZES:
        with tempfile.TemporaryDirectory() as folder:
            child("make", folder, n)
            row = child("run", folder, n)
            assert row is not None
            print(row, flush=True)
            rows.append(row)
    small, large = rows
    for row in rows:
        row["x_peak_vs_10k"] = round(row["tracemalloc_peak_mb"] / small["tracemalloc_peak_mb"], 2)
    verdict = (
        f"100k vs 10k records: Python peak {large['tracemalloc_peak_mb']} MB vs "
        f"{small['tracemalloc_peak_mb']} MB ({large['x_peak_vs_10k']}x for 10x the records), "
        f"peak RSS {large['peak_rss_mb']} MB vs {small['peak_rss_mb']} MB"
    )
    print(verdict)
    save("eval_memory", rows, notes=verdict)


if __name__ == "__main__":
    if len(sys.argv) == 4:
        command, folder, size = sys.argv[1:]
        if command == "make":
            make_dataset(folder, int(size))
        else:
            print(json.dumps(run_evaluation(folder)))
    else:
        main()
