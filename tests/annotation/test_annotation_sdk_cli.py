"""``client.queues`` over the local store and a live server; ``llmloop queues``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

import llmloop
from llmloop.annotation import LabelSchema
from llmloop.cli.main import main
from llmloop.errors import ValidationError
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.sdk.client import Client
from llmloop.settings import Settings
from llmloop.store.traces import TraceRepository
from llmloop.store.traces_types import Span
from support import LiveServer, Tenant

SCHEMA = LabelSchema(kind="classes", classes=["pos", "neg"])


@pytest.fixture(params=["local", "remote"])
def sdk(
    request: pytest.FixtureRequest, settings: Settings, live_server: LiveServer, tenant: Tenant
) -> Iterator[Client]:
    if request.param == "local":
        client = llmloop.connect(project="acme", settings=settings)
    else:
        client = llmloop.connect(
            live_server.url, api_key=tenant.secret("editor"), settings=settings
        )
    with client:
        client.datasets.commit(
            "reviews",
            [Record(id=f"r{i}", inputs={"text": f"review {i}"}) for i in range(8)],
            create=True,
        )
        yield client


def test_sdk_round_trip(sdk: Client) -> None:
    created = sdk.queues.create("q", SCHEMA, dataset="reviews", record_ids=["r1", "r2"],
                                required=2)  # fmt: skip
    assert created.progress.items == 2
    for who, answers in (("ann", ["pos", "neg"]), ("bo", ["pos", "pos"])):
        for value in answers:
            item = sdk.queues.next("q", who)
            assert item is not None
            sdk.queues.submit("q", item.id, value, annotator=who)
        assert sdk.queues.next("q", who) is None
    report = sdk.queues.agreement("q")
    assert report.percent_agreement == 0.5 and report.items_compared == 2
    disputed = sdk.queues.items("q", status="disputed").items
    assert [v.item.ref.record_id for v in disputed] == ["r2"]
    decided = sdk.queues.adjudicate("q", disputed[0].item.id, "neg", reason="sarcasm")
    assert decided.item.status == "adjudicated"
    outcome = sdk.queues.promote("q")
    assert outcome.promoted == 2 and outcome.commit.version.record_count == 2
    golden = sdk.datasets.records("reviews", "golden")
    assert {r.id: r.expectations for r in golden} == {
        "r1": {"label": "pos"},
        "r2": {"label": "neg"},
    }
    assert [q.queue.name for q in sdk.queues.list()] == ["q"]
    with pytest.raises(ValidationError, match="unknown class"):
        sdk.queues.submit("q", disputed[0].item.id, "meh")


def test_queue_from_active_learning_selection(sdk: Client) -> None:
    probs = np.array([[0.5, 0.5], [0.99, 0.01], [0.6, 0.4], [0.9, 0.1]] * 2)
    summary = sdk.queues.from_selection(
        "uncertain", "reviews", SCHEMA, size=3, strategy="entropy", probs=probs, labeled=[0]
    )
    items = sdk.queues.items("uncertain").items
    assert [v.item.ref.record_id for v in items] == ["r4", "r2", "r6"]  # most uncertain, r0 done
    assert items[0].item.hints == {"strategy": "entropy", "rank": 1}
    assert summary.queue.description == "3 records picked by entropy"
    with pytest.raises(ValidationError, match="probs has 2 rows"):
        sdk.queues.from_selection("bad", "reviews", SCHEMA, size=1, strategy="entropy",
                                  probs=probs[:2])  # fmt: skip
    rand = sdk.queues.from_selection("rand", "reviews", SCHEMA, size=4, strategy="random")
    assert rand.progress.items == 4


def test_trace_queue_promotes_into_a_named_dataset(sdk: Client, runtime: Runtime) -> None:
    project = sdk.projects.get().id
    trace_id = os.urandom(16).hex()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    root = Span(trace_id=trace_id, span_id=os.urandom(8).hex(), name="answer", start_time=start,
                end_time=start + timedelta(seconds=1), duration_ms=1000.0, status="ok",
                inputs={"question": "2+2?"}, outputs="5", model="m1")  # fmt: skip
    TraceRepository(runtime.db).insert(project, [root])
    schema = LabelSchema(kind="correction")
    created = sdk.queues.create("fix", schema, trace_ids=[trace_id])
    assert created.queue.source == {"kind": "traces", "traces": 1}
    item = sdk.queues.next("fix")
    assert item is not None and item.content.inputs == {"question": "2+2?"}
    assert item.content.outputs == {"output": "5"}
    sdk.queues.submit("fix", item.id, "4")
    with pytest.raises(ValidationError, match="give the dataset"):
        sdk.queues.promote("fix")
    outcome = sdk.queues.promote("fix", dataset="corrections")
    record = sdk.datasets.records("corrections", "golden")[0]
    assert record.id == trace_id and record.expectations == {"output": "4"}
    assert record.source.kind == "trace" and outcome.commit.created


async def test_async_client(live_server: LiveServer, tenant: Tenant, settings: Settings) -> None:
    async with await llmloop.aconnect(
        live_server.url, api_key=tenant.secret("editor"), settings=settings
    ) as client:
        await client.datasets.commit("d", [Record(id="a", inputs={"t": "x"})], create=True)
        await client.queues.create("aq", {"kind": "rating", "scale": 3}, dataset="d")
        item = await client.queues.next("aq")
        assert item is not None
        view = await client.queues.submit("aq", item.id, 2)
        assert view.item.final == 2 and view.item.final_by == "editor"
        assert (await client.queues.get("aq")).progress.resolved == 1


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> None:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLMLOOP_DATABASE_URL", db_url)


@pytest.mark.usefixtures("local_env")
def test_cli_queues(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "t.jsonl"
    rows = [{"id": f"t{i}", "text": f"text {i}"} for i in range(3)]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    assert run(capsys, "datasets", "import", "tickets", str(data))[0] == 0
    code, out, err = run(capsys, "queues", "create", "q", "--dataset", "tickets",
                         "--classes", "a,b,c", "--multi", "--required", "1", "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["progress"]["items"] == 3
    code, out, _ = run(capsys, "queues", "next", "q", "--annotator", "ann", "--json")
    item = json.loads(out)
    assert item["ref"]["record_id"] == "t0"
    code, out, _ = run(capsys, "queues", "submit", "q", item["id"], "c,a", "--annotator", "ann",
                       "--json")  # fmt: skip
    assert json.loads(out)["item"]["final"] == ["a", "c"]
    code, out, _ = run(capsys, "queues", "list")
    assert code == 0 and "Annotation queues" in out
    code, out, _ = run(capsys, "queues", "list", "--json")
    assert [s["queue"]["name"] for s in json.loads(out)] == ["q"]
    code, out, _ = run(capsys, "queues", "agreement", "q", "--json")
    assert json.loads(out)["items_compared"] == 0
    code, out, _ = run(capsys, "queues", "show", "q")
    assert code == 0 and "no item has answers from two annotators yet" in " ".join(out.split())
    code, out, _ = run(capsys, "queues", "promote", "q")
    assert code == 0 and "golden -> tickets v2" in out
    code, _, err = run(capsys, "queues", "submit", "q", item["id"], "zzz")
    assert code == 1 and "unknown class 'zzz'" in err
    code, _, err = run(capsys, "queues", "label-errors", "tickets")
    assert code == 1 and "label errors need at least 10" in err
