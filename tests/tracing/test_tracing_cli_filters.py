"""``llmloop traces list|export`` take every trace filter and answer ``--json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from spans_factory import make_span, new_trace_id

from llmloop.cli.main import main
from llmloop.store.traces import TraceRepository
from support import LiveServer

NOW = datetime.now(UTC).replace(microsecond=0)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_and_export_filters(
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    tenant = live_server.tenant("cli-filters")
    ids = {}
    rows = [("a", 1, "alice", "s1", 0.01, 100.0), ("b", 2, "bob", "s2", 0.10, 900.0),
            ("c", 3, "alice", "s3", 0.50, 3000.0)]  # fmt: skip
    spans = []
    for name, hours, user, session, cost, ms in rows:
        ids[name] = trace_id = new_trace_id()
        spans.append(make_span(trace_id, name=name, start_time=NOW - timedelta(hours=hours),
                               user_id=user, session_id=session, cost_usd=cost,
                               duration_ms=ms))  # fmt: skip
    TraceRepository(live_server.runtime.db).insert(tenant.project.id, spans)
    monkeypatch.setenv("LLMLOOP_SERVER_URL", live_server.url)
    monkeypatch.setenv("LLMLOOP_API_KEY", tenant.secret("viewer"))

    def names(*args: str) -> list[str]:
        code, out, err = run(capsys, "traces", "list", "--json", *args)
        assert code == 0, err
        return [t["name"] for t in json.loads(out)]

    assert names() == ["a", "b", "c"]
    assert names("--user", "alice") == ["a", "c"]
    assert names("--session", "s2") == ["b"]
    assert names("--min-cost", "0.05", "--max-cost", "0.2") == ["b"]
    assert names("--min-ms", "500") == ["b", "c"]
    assert names("--max-ms", "500") == ["a"]
    until = (NOW - timedelta(hours=1, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
    assert names("--until", until) == ["b", "c"]
    assert names("--limit", "1", "--offset", "1") == ["b"]
    code, _, err = run(capsys, "traces", "list", "--min-cost", "-1")
    assert code == 1 and "min_cost_usd" in err

    target = tmp_path / "alice.jsonl"
    code, out, err = run(capsys, "traces", "export", str(target), "--user", "alice", "--json")
    assert code == 0, err
    assert json.loads(out) == {"spans": 2, "path": str(target), "format": "jsonl"}
    exported = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(s["trace_id"] for s in exported) == sorted([ids["a"], ids["c"]])
    code, out, _ = run(capsys, "traces", "export", str(target), "--text", "nothing-matches")
    assert code == 0 and "wrote 0 spans" in out
