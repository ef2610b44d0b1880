"""Every span acknowledged with 2xx survives ``kill -9`` of the server mid-load.

``llmloop server`` runs as its own process on the test's database (SQLite file or
PostgreSQL schema); four threads post OTLP protobuf batches with fresh span ids and
record the ids of every batch answered 2xx; the server is SIGKILLed while they are
sending; then the database is opened and every acknowledged span must be in it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from otlp_payloads import request
from sqlalchemy import select, tuple_

from llmloop.runtime import Runtime
from llmloop.store import open_database
from llmloop.store.traces import spans
from support import make_tenant

THREADS = 4
SPANS_PER_REQUEST = 50
MIN_ACKED_BEFORE_KILL = 2_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(db_url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMLOOP_")}
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "empty.toml"
    config.write_text("")
    env.update(LLMLOOP_DATA_DIR=str(data_dir), LLMLOOP_DATABASE_URL=db_url,
               LLMLOOP_CONFIG=str(config), LLMLOOP_LOG_LEVEL="WARNING")  # fmt: skip
    binary = str(Path(sys.executable).with_name("llmloop"))
    proc = subprocess.Popen([binary, "server", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start within 60 s")


class Sender(threading.Thread):
    """Posts batches until the server is gone; keeps the ids of acknowledged spans."""

    def __init__(self, url: str, secret: str) -> None:
        super().__init__(daemon=True)
        self.url, self.secret = url, secret
        self.acked: list[tuple[str, str]] = []
        self.refused = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.secret}",
                   "Content-Type": "application/x-protobuf"}  # fmt: skip
        with httpx.Client(base_url=self.url, headers=headers, timeout=10) as client:
            while True:
                body, ids = request([{"name": f"op{i}"} for i in range(SPANS_PER_REQUEST)])
                try:
                    answer = client.post("/v1/traces", content=body.SerializeToString())
                except httpx.TransportError:
                    return  # the server was killed
                if 200 <= answer.status_code < 300:
                    self.acked += ids
                else:
                    self.refused += 1  # 503 when the queue is full: never acknowledged


@pytest.mark.timeout(180)
def test_acknowledged_spans_survive_sigkill(db_url: str, runtime: Runtime, tmp_path: Path) -> None:
    tenant = make_tenant(runtime, "durable")
    proc, url = _start_server(db_url, tmp_path / "server-data")
    senders = [Sender(url, tenant.secret("editor")) for _ in range(THREADS)]
    try:
        for sender in senders:
            sender.start()
        deadline = time.monotonic() + 60
        while sum(len(s.acked) for s in senders) < MIN_ACKED_BEFORE_KILL:
            assert time.monotonic() < deadline, "the server acknowledged too little in 60 s"
            assert all(s.is_alive() for s in senders), "a sender stopped before the kill"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # mid-load: requests are in flight
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    for sender in senders:
        sender.join(30)
    assert proc.returncode == -signal.SIGKILL
    acked = {pair for s in senders for pair in s.acked}
    assert len(acked) >= MIN_ACKED_BEFORE_KILL

    db = open_database(db_url, migrate=False)  # as found after the crash
    try:
        stored: set[tuple[str, str]] = set()
        pairs = sorted(acked)
        with db.connect() as c:
            for i in range(0, len(pairs), 500):
                chunk = pairs[i : i + 500]
                query = select(spans.c.trace_id, spans.c.span_id).where(
                    spans.c.project_id == tenant.project.id,
                    tuple_(spans.c.trace_id, spans.c.span_id).in_(chunk),
                )
                stored.update((t, s) for t, s in c.execute(query))
    finally:
        db.close()
    missing = acked - stored
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged spans lost"
