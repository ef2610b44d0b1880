"""Helpers shared by the benchmarks: timing, machine facts, result files.

Every benchmark measures a baseline in the same run and reports ratios against it; the
results go to ``bench/results/<name>.json`` and a Markdown table ``<name>.md``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
    }


def repeat(fn: Callable[[], object], *, n: int, warmup: int = 0) -> list[float]:
    """Seconds per call of ``fn``, ``n`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50) * 1e3, 4),
        "p99_ms": round(percentile(samples, 99) * 1e3, 4),
        "mean_ms": round(statistics.fmean(samples) * 1e3, 4),
    }


def save(name: str, rows: list[dict[str, Any]], *, notes: str = "") -> Path:
    """Write ``results/<name>.json`` and a Markdown table ``results/<name>.md``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    payload = {"benchmark": name, "at": stamp, "machine": machine(), "rows": rows, "notes": notes}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = [
        f"# {name}",
        "",
        f"Measured {stamp} on {payload['machine']}.",
        "",
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    if notes:
        lines += ["", notes]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    return path
