"""Run every benchmark in this folder; each writes its results to bench/results/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "provider_overhead.py",
    "store_writes.py",
    "embedded_models.py",
    "trace_overhead.py",
    "dataset_dedup.py",
    "eval_throughput.py",
    "eval_memory.py",
    "suites_robustness.py",
    "suites_bias.py",
    "label_model.py",
    "active_learning.py",
    "label_errors.py",
    "gateway.py",
    "deployment_plans.py",
    "trace_write_path.py",
    "trace_ingest.py",
    "trace_queries.py",
]


def main() -> int:
    failed = []
    for script in BENCHMARKS:
        print(f"== {script}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], cwd=HERE).returncode != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
