"""Evaluation throughput: 1,000 records against a 200 ms upstream at concurrency 50.

Three figures in the same run, against ``llmloop.testing.ScriptedUpstream`` served from
its own process (``python -m llmloop.testing.upstream``) on loopback, so the upstream does
not share this process's GIL:

- ideal: records x latency / concurrency (4.0 s here);
- plain loop: 50 asyncio workers calling the same provider registry, nothing else;
- llmloop: ``aevaluate`` with a model target, three scorers (exact match, token F1,
  efficiency), records streamed through a bounded queue to 50 workers, results written to
  SQLite in batches and aggregates with 1,000-resample bootstrap intervals, all included
  in the wall time; the response cache is off.

The plain loop and llmloop run alternately, twice each, and the best of each counts, so
both meet the machine in the same state; the CPU time per record (this process) shows
what llmloop adds to a bare call.

Targets (issue 4): llmloop <= 1.10x ideal and <= 1.05x the plain loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from benchlib import save

from llmloop.evaluation import ModelTarget, aevaluate
from llmloop.providers.registry import ProviderRegistry
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.settings import Settings

RECORDS = 1000
LATENCY_MS = 200.0
CONCURRENCY = 50
IDEAL_S = RECORDS * LATENCY_MS / 1000 / CONCURRENCY


@contextlib.contextmanager
def upstream_process() -> Iterator[str]:
    """A scripted upstream in a child process; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "llmloop.testing.upstream", "--port", str(port)]
    child = subprocess.Popen([*command, "--latency-ms", str(LATENCY_MS)])
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the scripted upstream did not start on port {port}")
        yield base_url
    finally:
        child.terminate()
        child.wait(timeout=10)


def records() -> list[Record]:
    return [
        Record(inputs={"q": f"question {i}"}, expectations={"answer": f"question {i}"})
        for i in range(RECORDS)
    ]


async def plain_loop(providers: ProviderRegistry, items: list[Record]) -> tuple[float, float]:
    pending = iter(items)

    async def worker() -> None:
        for record in pending:
            await providers.chat("scripted/gpt-4o-mini", record.inputs["q"])

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - start, time.process_time() - cpu


async def llmloop_run(runtime: Runtime, items: list[Record]) -> tuple[float, float, int]:
    start, cpu = time.perf_counter(), time.process_time()
    run = await aevaluate(
        ModelTarget("scripted/gpt-4o-mini", prompt="{q}"),
        items,
        ["exact_match", "token_f1", "efficiency"],
        runtime=runtime,
        concurrency=CONCURRENCY,
        cache=False,
    )
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    assert run.aggregates["exact_match"].value == 1.0, run.aggregates
    return elapsed, used, run.n_records


async def main() -> None:
    items = records()
    with tempfile.TemporaryDirectory() as tmp, upstream_process() as base_url:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db")
        with Runtime(settings) as runtime:
            runtime.providers.register_endpoint("scripted", base_url=base_url)
            await plain_loop(runtime.providers, items[:100])  # warm connections
            plains, ours_all = [], []
            for _ in range(2):
                plains.append(await plain_loop(runtime.providers, items))
                ours_all.append(await llmloop_run(runtime, items))
            await runtime.providers.aclose()
    baseline, baseline_cpu = min(plains)
    ours, ours_cpu, n = min(ours_all)
    rows = [
        {"variant": "ideal", "seconds": round(IDEAL_S, 3), "x_ideal": 1.0},
        {
            "variant": "plain asyncio loop (best of 2)",
            "seconds": round(baseline, 3),
            "x_ideal": round(baseline / IDEAL_S, 3),
            "cpu_us_per_record": round(baseline_cpu / RECORDS * 1e6),
        },
        {
            "variant": "llmloop aevaluate (3 scorers, stored, CIs; best of 2)",
            "seconds": round(ours, 3),
            "x_ideal": round(ours / IDEAL_S, 3),
            "x_plain_loop": round(ours / baseline, 3),
            "cpu_us_per_record": round(ours_cpu / RECORDS * 1e6),
            "records": n,
        },
    ]
    for row in rows:
        print(row)
    verdict = (
        f"llmloop {ours / IDEAL_S:.3f}x ideal (target <= 1.10), "
        f"{ours / baseline:.3f}x plain loop (target <= 1.05)"
    )
    print(verdict)
    save("eval_throughput", rows, notes=verdict)


if __name__ == "__main__":
    asyncio.run(main())
