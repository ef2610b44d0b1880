"""``client.labeling`` over the local store and a live server; ``llmloop label``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import llmloop
from llmloop.cli.main import main
from llmloop.data.datasets import Datasets
from llmloop.errors import ValidationError
from llmloop.labeling import LabelModel
from llmloop.labeling.specs import LFSpec
from llmloop.records import Record
from llmloop.sdk.client import Client
from llmloop.settings import Settings
from llmloop.store import AuditRepository, Database
from llmloop.store.label_matrices import LabelMatrixRepository
from support import LiveServer, Tenant

SPAM = ["WIN A PRIZE NOW", "free money, click here", "cheap pills free shipping", "FREE CASH"]
HAM = ["meeting at noon", "notes from the meeting", "lunch tomorrow?", "boom: the build broke"]
SPECS = [
    LFSpec(kind="keyword", name="free", keywords=["free", "prize"], label="spam"),
    {"kind": "regex", "name": "question", "pattern": r"\?$", "label": "ham"},
    "labeling.lf_examples:lfs",
]


def mail() -> list[Record]:
    texts = [(t, "spam") for t in SPAM] + [(t, "ham") for t in HAM]
    return [
        Record(id=f"m{i}", inputs={"text": t}, expectations={"kind": y}, metadata={"lang": "en"})
        for i, (t, y) in enumerate(texts)
    ]


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


def test_sdk_apply_fit_and_write(sdk: Client) -> None:
    sdk.datasets.create("mail", mail())
    seen: list[float] = []
    matrix = sdk.labeling.apply(
        "mail",
        SPECS,
        ["ham", "spam"],
        gold_field="kind",
        on_progress=lambda m: seen.append(m.progress),
    )
    assert matrix.status == "done" and seen[-1] == 1.0
    assert matrix.failures["counts"] == {"fragile": 1}
    assert [m.id for m in sdk.labeling.matrices("mail")] == [matrix.id]
    analysis = sdk.labeling.analysis("mail")
    assert {s["name"] for s in analysis.sources} == {"free", "question", "shouting", "fragile"}
    fitted = sdk.labeling.fit("mail")
    scores = {s["method"]: s["accuracy"] for s in fitted.fit.report["scores"]}
    assert scores["label_model"] >= scores["majority_vote"] - 1e-9
    written = sdk.labeling.write_labels("mail", field="weak", min_confidence=0.6)
    records = sdk.datasets.records("mail")
    assert sum("weak" in (r.expectations or {}) for r in records) == written.labeled > 0
    assert sdk.labeling.latest_fit("mail").fit is not None
    with pytest.raises(ValidationError, match="not a labeling function spec"):
        sdk.labeling.apply("mail", [42], ["ham", "spam"])  # type: ignore[list-item]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def test_cli_apply_analysis_fit_show_and_coverage(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    db_url: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLMLOOP_DATABASE_URL", db_url)
    with llmloop.connect() as client:
        client.datasets.create("mail", mail())
    specs = tmp_path / "lfs.json"
    specs.write_text(json.dumps([{"kind": "keyword", "name": "free", "keywords": ["free"],
                                  "label": "spam"}]))  # fmt: skip

    def ok(*args: str) -> str:
        code, out, err = run(capsys, *args)
        assert code == 0, err
        return out

    applied = json.loads(ok("label", "apply", "mail", "-c", "ham", "-c", "spam", "-f", str(specs),
                            "--python", "labeling.lf_examples:lfs", "--gold-field", "kind",
                            "--json"))  # fmt: skip
    assert applied["status"] == "done" and applied["columns"] == 3
    text = ok("label", "apply", "mail", "-c", "ham", "-c", "spam", "--python",
              "labeling.lf_examples:lfs", "--name", "py")  # fmt: skip
    assert "fragile failed on 1 records" in " ".join(text.split())
    analysis = json.loads(ok("label", "analysis", "mail", "--json"))
    assert analysis["sources"][0]["name"] == "free" and analysis["gold_records"] == 8
    assert "75.0% of records covered" in ok("label", "analysis", "mail")
    fitted = json.loads(ok("label", "fit", "mail", "--write", "weak", "--json"))
    assert fitted["labels"]["commit"]["version"]["number"] == 2
    assert "label model:" in ok("label", "show", "mail")
    report = json.loads(ok("label", "coverage", "mail", "--target", "mail", "--slice", "lang",
                           "--clusters", "2", "--json"))  # fmt: skip
    assert report["coverage_score"] == pytest.approx(1.0)
    code, _, err = run(capsys, "label", "apply", "mail", "-c", "ham", "-c", "spam")
    assert code == 1 and "--functions" in err
    code, _, err = run(capsys, "label", "analysis", "mail", "-m", "nope")
    assert code == 1 and "no label matrix 'nope'" in err


def test_a_large_matrix_is_stored_packed(db: Database, tenant: Tenant) -> None:
    """100,000 records x 20 functions: one row, read back identically."""
    data = Datasets(db, AuditRepository(db))
    data.commit(tenant.project.id, "big", [Record(id="r0", inputs={"text": "x"})], actor="t",
                create=True)  # fmt: skip
    dataset = data.get(tenant.project.id, "big")
    version = data.version(tenant.project.id, "big")
    repo = LabelMatrixRepository(db)
    rng = np.random.default_rng(0)
    votes = rng.integers(-1, 3, (100_000, 20)).astype(np.int16)
    ids = [f"r{i}" for i in range(100_000)]
    functions = [{"name": f"lf{j}", "kind": "keyword"} for j in range(20)]
    matrix = repo.create(tenant.project.id, dataset.id, version.id, "big", classes=["a", "b", "c"],
                         functions=functions, gold_field=None, rows=100_000, actor="t")  # fmt: skip
    repo.finish(matrix.id, votes=votes, record_ids=ids, gold=None, failures={}, seconds=0.0)
    back, back_ids, gold = repo.votes(matrix.id)
    assert np.array_equal(back, votes) and back_ids == ids and gold is None
    model = LabelModel(3).fit(back)
    assert model.predict_proba(back).shape == (100_000, 3)
