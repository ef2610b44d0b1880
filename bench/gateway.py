"""What the gateway adds over calling the upstream directly, measured in the same run.

Starts, as subprocesses: two scripted upstreams (0 ms and 50 ms; the fast mock of
``$LLMLOOP_BENCH_SHARED/mock_upstream.py`` when present, else
``python -m llmloop.testing.upstream``) and two ``llmloop server`` processes (SQLite,
tracing on) whose ``openai`` provider is one upstream each. The load generator is
``$LLMLOOP_BENCH_SHARED/gateway_load.py`` with its raw HTTP/1.1 engine. The server is
pinned to CPU 0, upstreams and generator to CPU 1 (when the machine has two and
``LLMLOOP_BENCH_PIN`` is not ``0``; on a machine busy with other work, pinning to a
contended core can hurt more than it isolates).

Rows: c=1 latency direct vs gateway (0 ms upstream); c=64 with a 50 ms upstream; the
most requests/s through the gateway with a 0 ms upstream (and the server's CPU-ms per
request, which says what one dedicated core can do whatever else runs on the machine);
the server's RSS before and after a long run. Results: ``bench/results/gateway.json``.

    python bench/gateway.py [--quick] [--long-requests N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from benchlib import save

SHARED = Path(os.environ.get("LLMLOOP_BENCH_SHARED", "/work/shared/bench"))
PYTHON = sys.executable
PIN = (os.cpu_count() or 1) >= 2 and os.environ.get("LLMLOOP_BENCH_PIN", "1") != "0"
# LiteLLM's proxy as measured for shared/bench/results/notes_peers.md; used only when
# $LITELLM_BIN (the `litellm` command of a `litellm[proxy]` install) is not given, in
# which case the peer is measured in this run instead.
LITELLM_NOTES = {"rps_max": 114, "c1_added_p50_ms": 8.4, "c1_added_p99_ms": 10.0}
LITELLM_BIN = os.environ.get("LITELLM_BIN")
LITELLM_KEY = "sk-bench-master"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int) -> Any:
    return (lambda: os.sched_setaffinity(0, {cpu})) if PIN else None


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


@contextmanager
def upstream(latency_ms: float) -> Iterator[tuple[str, int]]:
    port = free_port()
    mock = SHARED / "mock_upstream.py"
    if mock.is_file():
        cmd = [PYTHON, str(mock), "--port", str(port), "--latency-ms", str(latency_ms)]
    else:
        cmd = [PYTHON, "-m", "llmloop.testing.upstream", "--port", str(port)]
        cmd += ["--latency-ms", str(latency_ms), "--reply", "The quick brown fox " * 8]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pinned(1)
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models")
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def server(upstream_url: str, work: Path) -> Iterator[tuple[str, int, str]]:
    """An ``llmloop server`` on its own data dir; yields (url, pid, admin key)."""
    port = free_port()
    data = work / f"data-{port}"
    data.mkdir()
    (data / "empty.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMLOOP_")}
    env |= {
        "LLMLOOP_DATA_DIR": str(data),
        "LLMLOOP_CONFIG": str(data / "empty.toml"),
        "LLMLOOP_OPENAI_BASE_URL": f"{upstream_url}/v1",
    }
    code = "from llmloop.cli.main import main; main()"
    log = (data / "server.log").open("w")
    proc = subprocess.Popen(
        [PYTHON, "-c", code, "server", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=pinned(0),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/api/v1/health")
        key = re.search(r"llk_[A-Za-z0-9_-]+", (data / "server.log").read_text())
        if key is None:
            raise RuntimeError("the server did not print its admin key")
        yield url, proc.pid, key.group(0)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@contextmanager
def litellm(upstream_url: str, work: Path) -> Iterator[tuple[str, int]]:
    """LiteLLM's proxy (one worker, no database, no callbacks) in front of the upstream."""
    assert LITELLM_BIN
    port = free_port()
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/x\n"
        f"      api_base: {upstream_url}/v1\n      api_key: sk-dummy\n"
        "litellm_settings:\n  drop_params: true\n  telemetry: false\n  callbacks: []\n"
        "  num_retries: 0\n  request_timeout: 30\n"
        f"general_settings:\n  master_key: {LITELLM_KEY}\n  disable_spend_logs: true\n"
    )
    env = os.environ | {
        "LITELLM_MASTER_KEY": LITELLM_KEY, "OPENAI_API_KEY": "sk-dummy",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR",
    }  # fmt: skip
    log = (work / "litellm.log").open("w")
    cmd = [LITELLM_BIN, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=pinned(0))  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health/liveliness", timeout_s=180)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def load(
    base_url: str,
    *,
    concurrency: int,
    seconds: float,
    model: str,
    key: str = "",
    sut_pid: int | None = None,
    requests: int | None = None,
) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(suffix=".jsonl")[1])
    cmd = [
        PYTHON, str(SHARED / "gateway_load.py"), "--base-url", base_url, "--model", model,
        "-c", str(concurrency), "-d", str(seconds), "--warmup", "2", "--engine", "raw",
        "--out", str(out),
    ]  # fmt: skip
    if PIN:
        cmd += ["--cpus", "1"]
    if key:
        cmd += ["--api-key", key]
    if sut_pid:
        cmd += ["--sut-pid", str(sut_pid)]
    if requests:
        cmd += ["-n", str(requests)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    result: dict[str, Any] = json.loads(out.read_text().splitlines()[-1])
    out.unlink()
    return result


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def row(name: str, r: dict[str, Any], **extra: Any) -> dict[str, Any]:
    lat = r["latency_ms"]
    cpu = r.get("cpu") or {}
    return {
        "case": name,
        "c": r["concurrency"],
        "rps": round(r["rps"], 1),
        "p50_ms": round(lat.get("p50", 0), 3),
        "p99_ms": round(lat.get("p99", 0), 3),
        "errors": r["error_count"],
        "sut_cpu_ms_per_req": cpu.get("sut_cpu_ms_per_item"),
        "other_cores_busy": round(cpu.get("other_cores", 0), 2),
        **extra,
    }


def rss_over(url: str, pid: int, key: str, requests: int, model: str) -> list[float]:
    """The server's RSS after start-up, then after each fifth of ``requests``."""
    rss = [rss_mb(pid)]
    for _ in range(5):
        load(url, concurrency=32, seconds=600, model=model, key=key, requests=requests // 5)
        time.sleep(3)  # let the trace writer drain
        rss.append(rss_mb(pid))
    return rss


def memory(requests: int) -> None:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        fast, _ = stack.enter_context(upstream(0))
        gw, pid, key = stack.enter_context(server(fast, tmp))
        rss = rss_over(gw, pid, key, requests, "openai/gpt-4o-mini")
    rows = [
        {"case": f"gateway RSS over {requests} requests (MB, every fifth)", "rss_mb": rss,
         "growth_first_fifth_mb": round(rss[1] - rss[0], 1),
         "growth_last_fifth_mb": round(rss[-1] - rss[-2], 1)}
    ]  # fmt: skip
    notes = "Tracing on (SQLite, every call stored), concurrency 32, 0 ms upstream."
    print(save("gateway_memory", rows, notes=notes).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--long-requests", type=int, default=200_000)
    parser.add_argument(
        "--memory-only", action="store_true",
        help="only the long run's RSS (results: gateway_memory.json)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.memory_only:
        memory(args.long_requests)
        return
    seconds = 4.0 if args.quick else 15.0
    long_requests = 5_000 if args.quick else args.long_requests
    model = "openai/gpt-4o-mini"
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        fast, _ = stack.enter_context(upstream(0))
        slow, _ = stack.enter_context(upstream(50))
        gw, pid, key = stack.enter_context(server(fast, tmp))
        gw50, _, k50 = stack.enter_context(server(slow, tmp))
        direct1 = load(fast, concurrency=1, seconds=seconds, model="gpt-4o-mini")
        through1 = load(gw, concurrency=1, seconds=seconds, model=model, key=key, sut_pid=pid)
        added50 = through1["latency_ms"]["p50"] - direct1["latency_ms"]["p50"]
        added99 = through1["latency_ms"]["p99"] - direct1["latency_ms"]["p99"]
        rows.append(row("direct, 0 ms upstream", direct1))
        rows.append(
            row("gateway, 0 ms upstream", through1,
                added_p50_ms=round(added50, 3), added_p99_ms=round(added99, 3))
        )  # fmt: skip
        direct64 = load(slow, concurrency=64, seconds=seconds, model="gpt-4o-mini")
        through64 = load(gw50, concurrency=64, seconds=seconds, model=model, key=k50)
        added = through64["latency_ms"]["p50"] - direct64["latency_ms"]["p50"]
        rows.append(row("direct, 50 ms upstream", direct64))
        rows.append(row("gateway, 50 ms upstream", through64, added_p50_ms=round(added, 3)))
        direct_max = load(fast, concurrency=64, seconds=seconds, model="gpt-4o-mini")
        best = load(gw, concurrency=64, seconds=seconds, model=model, key=key, sut_pid=pid)
        cpu_ms = (best.get("cpu") or {}).get("sut_cpu_ms_per_item") or 0
        rows.append(row("direct, max rps", direct_max))
        rows.append(
            row("gateway, max rps", best,
                rps_per_dedicated_core=round(1000 / cpu_ms) if cpu_ms else None,
                vs_litellm_notes=round(best["rps"] / LITELLM_NOTES["rps_max"], 1))
        )  # fmt: skip
        if LITELLM_BIN:
            lite, lite_pid = stack.enter_context(litellm(fast, tmp))
            lite1 = load(lite, concurrency=1, seconds=seconds, model="x", key=LITELLM_KEY,
                         sut_pid=lite_pid)  # fmt: skip
            lite_max = load(lite, concurrency=64, seconds=seconds, model="x", key=LITELLM_KEY,
                            sut_pid=lite_pid)  # fmt: skip
            lat, base = lite1["latency_ms"], direct1["latency_ms"]
            rows.append(
                row("litellm proxy, 0 ms upstream", lite1,
                    added_p50_ms=round(lat["p50"] - base["p50"], 3),
                    added_p99_ms=round(lat["p99"] - base["p99"], 3))
            )  # fmt: skip
            rows.append(row("litellm proxy, max rps", lite_max))
            rows[-3]["vs_litellm_same_run"] = round(best["rps"] / max(lite_max["rps"], 1e-9), 1)
        rss = rss_over(gw, pid, key, long_requests, model)
        done = long_requests // 5 * 5
        rows.append(
            {"case": f"gateway RSS over {done} requests (MB, every fifth)", "rss_mb": rss,
             "growth_last_fifth_mb": round(rss[-1] - rss[-2], 1)}
        )  # fmt: skip
    notes = (
        "Tracing on (SQLite, every call stored). c=1 rows: added latency = gateway minus "
        "direct, same run. sut_cpu_ms_per_req: the llmloop server's CPU per request (all "
        "threads); rps_per_dedicated_core = 1000 / that. other_cores_busy: load from other "
        f"processes during the row (this machine is shared). Pinned: {PIN}. "
        + (
            "LiteLLM's proxy measured in this run (same upstream, pinned like the gateway)."
            if LITELLM_BIN
            else "LiteLLM not given ($LITELLM_BIN); its figures from "
            f"shared/bench/results/notes_peers.md: {LITELLM_NOTES}."
        )
    )
    path = save("gateway", rows, notes=notes)
    print(path.read_text())


if __name__ == "__main__":
    main()
