"""``client.datasets`` over the local store and a live server; ``llmloop datasets``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import llmloop
from llmloop.cli.main import main
from llmloop.data.importers import ColumnMapping
from llmloop.errors import NotFoundError, ValidationError
from llmloop.records import Record
from llmloop.sdk.client import Client
from llmloop.settings import Settings
from support import LiveServer, Tenant


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
        yield client


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"t{i}" for i in range(12)],
            "text": [f"ticket {i} text" for i in range(12)],
            "label": ["refund", "shipping", "other"] * 4,
            "lang": ["en"] * 8 + ["de"] * 4,
        }
    )


MAPPING = ColumnMapping(id="id", inputs=["text"], expectations=["label"], metadata=["lang"])


def test_sdk_round_trip(sdk: Client, tmp_path: Path) -> None:
    outcome = sdk.datasets.from_pandas("tickets", frame(), MAPPING)
    assert outcome.created and outcome.report.format == "pandas" and outcome.report.imported == 12
    records = sdk.datasets.records("tickets")
    assert [r.id for r in records] == [f"t{i}" for i in range(12)]
    assert records[0].expectations == {"label": "refund"}
    assert sdk.datasets.records("tickets", limit=5) == records[:5]

    df = sdk.datasets.to_pandas("tickets")
    assert list(df.columns) == ["id", "inputs.text", "expectations.label", "metadata.lang"]
    again = sdk.datasets.from_pandas("tickets", df)  # the default mapping reads the prefixes
    assert not again.created and again.version.id == outcome.version.id

    changed = [*records[:10], Record(id="t99", inputs={"text": "new"}, metadata={"lang": "fr"})]
    second = sdk.datasets.commit("tickets", changed, message="add french")
    assert second.version.number == 2
    diff = sdk.datasets.diff("tickets", "v1")
    assert (diff.added, diff.removed) == (["t99"], ["t10", "t11"])

    golden = sdk.datasets.alias("tickets", "golden", "v1", reason="reviewed")
    assert golden.version_id == outcome.version.id
    assert {a.name for a in sdk.datasets.aliases("tickets")} == {"golden", "latest"}
    actions = [e.action for e in sdk.audit.list(object_type="dataset")]
    assert actions.count("dataset.alias.move") == 3

    split = sdk.datasets.split("tickets", stratify="lang", version="golden", seed=3, save=True)
    assert {k: v.record_count for k, v in split.versions.items()} == {
        "train": 10, "dev": 1, "test": 1,
    }  # fmt: skip
    path = tmp_path / "golden.parquet"
    assert sdk.datasets.export("tickets", path, version="golden", format="parquet") == 12
    imported = sdk.datasets.import_file("copy", path)
    assert imported.version.id == outcome.version.id  # same content, same address
    assert [s.dataset.name for s in sdk.datasets.list()] == ["copy", "tickets"]


def test_sdk_errors_are_typed(sdk: Client, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="dataset 'nope' not found"):
        sdk.datasets.get("nope")
    bad = tmp_path / "bad.csv"
    bad.write_bytes("text\ncafé\n".encode("latin-1"))
    with pytest.raises(ValidationError, match="not valid utf-8"):
        sdk.datasets.import_file("d", bad)
    with pytest.raises(ValidationError, match="cannot tell the format"):
        sdk.datasets.import_file("d", tmp_path / "x.txt")
    assert sdk.datasets.list() == []


async def test_async_client_datasets(settings: Settings) -> None:
    async with await llmloop.aconnect(project="acme", settings=settings) as client:
        created = await client.datasets.create("d", [Record(id="a", inputs={"q": 1})])
        assert created.latest is not None and created.latest.record_count == 1
        await client.datasets.commit("d", [Record(id="a", inputs={"q": 2})])
        assert [r.inputs for r in await client.datasets.records("d")] == [{"q": 2}]
        diff = await client.datasets.diff("d", "v1")
        assert diff.changed == ["a"]
        df = await client.datasets.to_pandas("d", "v1")
        assert df.to_dict("records") == [{"id": "a", "inputs.q": 1}]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), " ".join(err.split())  # rich wraps long lines


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> None:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLMLOOP_DATABASE_URL", db_url)


@pytest.mark.usefixtures("local_env")
def test_cli_datasets(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    frame().to_csv(csv, index=False)
    with csv.open("a") as f:
        f.write(",,,\nt0,dup,x,en\n")
    mapping = ["--id", "id", "--inputs", "text", "--expectations", "label", "--metadata", "lang"]
    code, out, _ = run(capsys, "datasets", "import", "tickets", str(csv), *mapping)
    assert code == 0 and "new version v1" in out and "12 records imported" in out
    assert "row 13: empty row" in out and "row 14: duplicate id 't0'" in out

    code, out, _ = run(capsys, "datasets", "list", "--json")
    assert code == 0 and json.loads(out)[0]["latest"]["record_count"] == 12
    code, out, _ = run(capsys, "datasets", "show", "tickets")
    assert code == 0 and "slice lang: en=8, de=4" in out and "latest -> v1" in out

    code, out, _ = run(capsys, "datasets", "split", "tickets", "--stratify", "lang", "--save")
    assert code == 0 and "train: 10 records -> v2" in out
    code, out, _ = run(capsys, "datasets", "alias", "tickets", "golden", "v1", "--json")
    assert code == 0 and json.loads(out)["name"] == "golden"

    out_path = tmp_path / "out.jsonl"
    code, out, _ = run(capsys, "datasets", "export", "tickets", str(out_path), "-v", "train")
    assert code == 0 and "wrote 10 records" in out
    assert len(out_path.read_text().splitlines()) == 10
    code, out, _ = run(capsys, "datasets", "import", "tickets", str(out_path))
    assert code == 0 and "same content as v2" in out  # the train split, now latest again
    code, out, _ = run(capsys, "datasets", "diff", "tickets", "v1", "--json")
    assert code == 0 and len(json.loads(out)["removed"]) == 2

    code, out, _ = run(capsys, "datasets", "dedup", "tickets", "--dry-run")
    assert code == 0 and "no duplicates" in out

    code, _, err = run(capsys, "datasets", "alias", "tickets", "latest", "v1")
    assert code == 1 and "'latest' moves by itself" in err
    code, _, err = run(capsys, "datasets", "show", "nope")
    assert code == 1 and "dataset 'nope' not found" in err
