"""OTLP/HTTP span ingestion: spans/s acknowledged and stored, SQLite and PostgreSQL.

``llmloop server`` runs as its own process on 127.0.0.1 with a fresh data dir (and for
PostgreSQL a fresh schema), an editor key made with ``llmloop keys create`` beforehand.
The load comes from ``/work/shared/bench/ingest_load.py``, the generator that measured
Phoenix (~1,200 spans/s) and MLflow (~1,000 spans/s): OTLP protobuf, 100 spans per
request, ~1.3 KB per span, concurrency 4, backing off on 503 like an OTel exporter.
As for the peers, the server is pinned to core 0 and the generator to core 1.

After the load stops, the stored span count is read from the database at once and
compared with the acknowledged (2xx) count: the server answers only after the commit,
so the two must be equal; ``lost`` is the difference.

Baselines in the same run, same generator and pinning: a raw asyncio HTTP sink that
reads and discards each body (the generator's ceiling) and a bare ASGI app on uvicorn
that does the same (the HTTP stack's ceiling, before any OTLP decoding or storage).

``--concurrency`` takes a comma list (``4,8,16``): each llmloop target is then run at
every level, one row each, so the sustained rate can be read against the requests in
flight (more requests in flight let one group commit carry more spans). The baselines
run at the first level.

Usage: ``python trace_ingest.py [--seconds 60] [--concurrency 4,8,16]
[--targets sink,asgi,sqlite,postgres]``.
Skips with a message if ``/work/shared/bench`` is absent; PostgreSQL is skipped if it
does not answer on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchlib import save

SHARED = Path(os.environ.get("LLMLOOP_SHARED_BENCH", "/work/shared/bench"))
LOAD = SHARED / "ingest_load.py"
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SPANS_PER_REQUEST = 100
TARGET = 20_000


# ---------------------------------------------------------------- baseline sinks


async def _raw_sink(port: int) -> None:
    """HTTP/1.1 keep-alive server that reads each body and answers 200, nothing else."""
    reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def _asgi_sink(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/x-protobuf"), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def run_sink(kind: str, port: int) -> None:
    if kind == "raw":
        asyncio.run(_raw_sink(port))
    else:
        import uvicorn

        uvicorn.run(_asgi_sink, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s")


def pin(core: int | None) -> Any:
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


@contextmanager
def started(cmd: list[str], env: dict[str, str], port: int, core: int | None) -> Any:
    proc = subprocess.Popen(
        cmd, env=env, preexec_fn=pin(core), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_port(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def llmloop_bin() -> str:
    return str(Path(sys.executable).with_name("llmloop"))


def server_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMLOOP_")}
    env["LLMLOOP_DATA_DIR"] = str(data_dir)
    if database_url:
        env["LLMLOOP_DATABASE_URL"] = database_url
    return env


def editor_key(env: dict[str, str]) -> str:
    out = subprocess.run(
        [llmloop_bin(), "keys", "create", "ingest-bench", "--role", "editor", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return str(json.loads(out)["secret"])


def drive(
    port: int, pid: int, label: str, seconds: float, concurrency: int, gen_core: int | None,
    headers: list[str],
) -> dict[str, Any]:  # fmt: skip
    """Run the shared generator against ``port``; its JSON result line."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
        out = Path(f.name)
    cmd = [sys.executable, str(LOAD), "--base-url", f"http://127.0.0.1:{port}"]
    cmd += ["-c", str(concurrency), "-d", str(seconds), "--sut-pid", str(pid)]
    cmd += ["--spans-per-request", str(SPANS_PER_REQUEST), "--sample-s", "0"]
    cmd += ["--label", label, "--out", str(out)]
    if gen_core is not None:
        cmd += ["--cpus", str(gen_core)]
    for h in headers:
        cmd += ["--header", h]
    try:
        subprocess.run(cmd, check=True)
        return dict(json.loads(out.read_text().splitlines()[-1]))
    finally:
        out.unlink(missing_ok=True)


def count_stored(url: str) -> int:
    from llmloop.store import open_database
    from llmloop.store.traces import TraceRepository

    db = open_database(url, migrate=False)
    try:
        return TraceRepository(db).count_spans()
    finally:
        db.close()


def row(label: str, res: dict[str, Any], stored: int | None, sink_rate: float | None) -> dict:
    requests = res["requests"] or 1
    n503 = res["errors"].get("503", 0)
    rate = res["accepted_spans_per_s"]
    cpu = res.get("cpu") or {}
    out: dict[str, Any] = {
        "target": label,
        "seconds": round(res["send_s"], 1),
        "acked_spans": res["accepted_spans"],
        "acked_spans_per_s": round(rate),
        "requests": res["requests"],
        "rate_503": round(n503 / requests, 4),
        "other_errors": sum(v for k, v in res["errors"].items() if k != "503"),
        "stored": "" if stored is None else stored,
        "lost": "" if stored is None else res["accepted_spans"] - stored,
        "p50_ms": round(res["request_latency_ms"].get("p50", 0), 1),
        "p99_ms": round(res["request_latency_ms"].get("p99", 0), 1),
        "server_cores": round(cpu["sut_cores"], 2) if cpu else "",
        "server_cpu_ms_per_100_spans": round(cpu["sut_cpu_ms_per_item"], 2) if cpu else "",
        "server_cpu_us_per_span": round(cpu["sut_cpu_ms_per_item"] * 10, 1) if cpu else "",
        "machine_busy_cores": round(cpu["machine_busy_cores"], 2) if cpu else "",
        "vs_raw_sink": round(rate / sink_rate, 3) if sink_rate else "",
        "vs_target_20k": round(rate / TARGET, 3) if stored is not None else "",
    }
    return out


def pg_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return True
    except OSError:
        return False


@contextmanager
def pg_schema() -> Any:
    import sqlalchemy as sa

    name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG_BASE)
    with engine.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{name}"
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


def bench_llmloop(
    label: str, database_url: str | None, a: argparse.Namespace, cores: tuple[Any, Any],
    sink_rate: float | None, concurrency: int,
) -> dict[str, Any]:  # fmt: skip
    data_dir = Path(tempfile.mkdtemp(prefix="llmloop-ingest-"))
    try:
        env = server_env(data_dir, database_url)
        secret = editor_key(env)  # also creates and migrates the store
        url = database_url or f"sqlite:///{data_dir / 'llmloop.db'}"
        port = free_port()
        cmd = [llmloop_bin(), "server", "--port", str(port)]
        with started(cmd, env, port, cores[0]) as proc:
            before = count_stored(url)
            res = drive(port, proc.pid, label, a.seconds, concurrency, cores[1],
                        [f"authorization: Bearer {secret}"])  # fmt: skip
            stored = count_stored(url) - before  # acks follow commits: no waiting
        return {**row(label, res, stored, sink_rate), "concurrency": concurrency}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=60.0, help="load duration per target")
    p.add_argument("--concurrency", default="4", help="requests in flight; a comma list sweeps")
    p.add_argument("--targets", default="sink,asgi,sqlite,postgres")
    p.add_argument("--no-pin", action="store_true", help="do not pin server/generator to cores")
    p.add_argument("--sink", choices=["raw", "asgi"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.sink:
        run_sink(a.sink, a.port)
        return 0
    if not LOAD.exists():
        print(f"skipped: {LOAD} not found (the shared span load generator)")
        return 0
    pinned = not a.no_pin and (os.cpu_count() or 1) >= 2
    cores = (0, 1) if pinned else (None, None)
    targets = a.targets.split(",")
    levels = [int(c) for c in str(a.concurrency).split(",")]
    rows: list[dict[str, Any]] = []
    sink_rate = None
    for kind, label in (("raw", "sink"), ("asgi", "asgi")):
        if label not in targets:
            continue
        port = free_port()
        cmd = [sys.executable, __file__, "--sink", kind, "--port", str(port)]
        with started(cmd, dict(os.environ), port, cores[0]) as proc:
            res = drive(port, proc.pid, f"{label} (discard)", a.seconds, levels[0], cores[1], [])
        if kind == "raw":
            sink_rate = res["accepted_spans_per_s"]
        rows.append({**row(f"{label} (discard)", res, None, sink_rate), "concurrency": levels[0]})
    for c in levels if "sqlite" in targets else []:
        rows.append(bench_llmloop("llmloop sqlite", None, a, cores, sink_rate, c))
    if "postgres" in targets:
        if pg_up():
            for c in levels:
                with pg_schema() as url:
                    rows.append(bench_llmloop("llmloop postgres", url, a, cores, sink_rate, c))
        else:
            print("postgres skipped: nothing on 127.0.0.1:5432")
    pin_note = "server on core 0, generator on core 1" if pinned else "unpinned"
    path = save(
        "trace_ingest",
        rows,
        notes=f"{a.seconds:g} s of load per target, {a.concurrency} concurrent requests of "
        f"{SPANS_PER_REQUEST} spans (~1.3 KB each, OTLP protobuf) from "
        f"{LOAD} ({pin_note}), 503 answered with back-off as OTel exporters do. "
        "`stored` is read from the database right after the load ends; `lost` = acked - "
        f"stored. Target: {TARGET:,} spans/s into SQLite for 60 s (Phoenix ~1,200, "
        "MLflow ~1,000 with the same generator). `server_cpu_ms_per_100_spans` is per "
        "request of 100 spans.",
    )
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
