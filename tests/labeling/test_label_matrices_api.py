"""Stored label matrices through the API: apply, analysis, fit, labels into a version."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llmloop.data.datasets import Datasets
from llmloop.embedded.model_store import ModelStore
from llmloop.embedded.text_model import TextModel
from llmloop.labeling.service import Labeling
from llmloop.labeling.specs import LFSpec
from llmloop.providers.registry import ProviderRegistry
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.testing import ScriptedUpstream
from support import Tenant, assert_error

BASE = "/api/v1/projects/acme/datasets/mail"

SPAM = ["WIN A PRIZE NOW", "free money, click here", "cheap pills free shipping", "FREE CASH"]
HAM = ["meeting at noon", "notes from the meeting", "lunch tomorrow?", "boom: the build broke"]

FUNCTIONS: list[dict[str, Any]] = [
    {"kind": "keyword", "name": "free", "keywords": ["free", "prize"], "label": "spam"},
    {"kind": "regex", "name": "question", "pattern": r"\?$", "label": "ham"},
    {"kind": "python", "ref": "labeling.lf_examples:lfs"},
]


def records() -> list[Record]:
    texts = [(t, "spam") for t in SPAM] + [(t, "ham") for t in HAM]
    return [
        Record(id=f"m{i}", inputs={"text": t}, expectations={"kind": y} if i % 2 == 0 else None)
        for i, (t, y) in enumerate(texts)
    ]


@pytest.fixture
def mail(runtime: Runtime, tenant: Tenant) -> None:
    data = Datasets(runtime.db, runtime.tenancy.audit)
    data.commit(tenant.project.id, "mail", records(), actor="test", create=True)


def apply(client: TestClient, tenant: Tenant, **extra: Any) -> Any:
    body = {"functions": FUNCTIONS, "classes": ["ham", "spam"], "gold_field": "kind"} | extra
    return client.post(f"{BASE}/label-matrices", json=body, headers=tenant.headers("editor"))


def test_apply_analyse_fit_and_write_labels(client: TestClient, tenant: Tenant, mail: None) -> None:
    started = apply(client, tenant)
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running" and started.json()["rows"] == 8
    viewer = tenant.headers("viewer")
    matrix = client.get(f"{BASE}/label-matrices/default", headers=viewer).json()
    assert matrix["status"] == "done" and matrix["progress"] == 1.0
    assert [f["name"] for f in matrix["functions"]] == ["free", "question", "shouting", "fragile"]
    assert matrix["failures"]["counts"] == {"fragile": 1}
    example = matrix["failures"]["examples"][0]
    assert example["record_id"] == "m7" and "cannot read this one" in example["error"]

    analysis = client.get(f"{BASE}/label-matrices/default/analysis", headers=viewer).json()
    by_name = {s["name"]: s for s in analysis["sources"]}
    assert by_name["free"]["coverage"] == pytest.approx(4 / 8)  # every spam mail
    assert by_name["free"]["polarity"] == ["spam"]
    assert by_name["fragile"]["errors"] == 1 and by_name["fragile"]["votes"] == 2
    assert by_name["shouting"]["overlap"] == pytest.approx(2 / 8)  # both shouted mails say free
    assert by_name["free"]["empirical_accuracy"] == 1.0
    assert analysis["gold_records"] == 4

    fitted = client.post(
        f"{BASE}/label-matrices/default/fit", json={}, headers=tenant.headers("editor")
    )
    assert fitted.status_code == 201, fitted.text
    report = fitted.json()["fit"]["report"]
    assert {s["method"] for s in report["scores"]} == {"majority_vote", "label_model"}
    assert len(report["learned_accuracies"]) == 4
    assert set(report["class_balance"]) == {"ham", "spam"}

    written = client.post(
        f"{BASE}/label-matrices/default/labels",
        json={"field": "weak_label"},
        headers=tenant.headers("editor"),
    )
    assert written.status_code == 201, written.text
    outcome = written.json()
    assert outcome["commit"]["version"]["number"] == 2
    rows = client.get(f"{BASE}/records", headers=viewer).json()["records"]
    labeled = {r["id"]: r for r in rows if "weak_label" in (r["expectations"] or {})}
    assert len(labeled) == outcome["labeled"] == 7  # "lunch tomorrow?" is covered too
    assert labeled["m0"]["expectations"]["weak_label"] == "spam"
    assert labeled["m5"]["expectations"]["weak_label"] == "ham"
    assert 0.5 < labeled["m0"]["metadata"]["weak_label_confidence"] <= 1.0
    assert labeled["m0"]["metadata"]["weak_label_source"] == "label_model"


@pytest.mark.parametrize(
    ("functions", "status", "message"),
    [
        ([{"kind": "keyword", "name": "x", "keywords": ["a"], "label": "eggs"}], 422, "not one of"),
        ([{"kind": "regex", "name": "x", "pattern": "(", "label": "ham"}], 422, "invalid pattern"),
        ([{"kind": "keyword", "name": "x", "label": "ham"}], 422, "needs keywords"),
        ([{"kind": "python", "ref": "labeling.nowhere:lfs"}], 422, "cannot import"),
        ([{"kind": "python", "ref": "labeling.lf_examples:not_functions"}], 422, "must be a"),
        ([{"kind": "text_model", "name": "m", "model": "absent"}], 422, "absent"),
        ([{"kind": "sql", "name": "x"}], 422, "kind"),
    ],
)
def test_bad_functions_are_refused_and_nothing_is_stored(
    client: TestClient, tenant: Tenant, mail: None, functions: Any, status: int, message: str
) -> None:
    response = apply(client, tenant, functions=functions)
    assert_error(response, status, "invalid_request")
    assert message in response.text
    listed = client.get(f"{BASE}/label-matrices", headers=tenant.headers("viewer")).json()
    assert listed == []


def test_conflicts_missing_objects_and_roles(
    client: TestClient, tenant: Tenant, mail: None
) -> None:
    assert apply(client, tenant).status_code == 202
    assert_error(apply(client, tenant), 409, "conflict")
    assert apply(client, tenant, replace=True).status_code == 202
    assert len(client.get(f"{BASE}/label-matrices", headers=tenant.headers()).json()) == 1
    assert_error(
        client.get(f"{BASE}/label-matrices/nope", headers=tenant.headers()), 404, "not_found"
    )
    missing = "/api/v1/projects/acme/datasets/absent/label-matrices"
    assert_error(client.post(missing, json={"functions": FUNCTIONS, "classes": ["a", "b"]},
                             headers=tenant.headers("editor")), 404, "not_found")  # fmt: skip
    assert_error(apply(client, tenant, classes=["ham", "ham"]), 422, "invalid_request")
    viewer_apply = client.post(
        f"{BASE}/label-matrices",
        json={"functions": FUNCTIONS, "classes": ["ham", "spam"]},
        headers=tenant.headers("viewer"),
    )
    assert_error(viewer_apply, 403, "forbidden")
    assert_error(
        client.post(f"{BASE}/label-matrices/default/labels", json={"field": "x"},
                    headers=tenant.headers("editor")), 409, "conflict",
    )  # fmt: skip


def test_simulation_curves_are_stored(client: TestClient, tenant: Tenant, runtime: Runtime) -> None:
    data = Datasets(runtime.db, runtime.tenancy.audit)
    words = {"pos": ["great", "love", "fine", "good"], "neg": ["awful", "hate", "bad", "poor"]}
    rows = [
        Record(id=f"r{i}", inputs={"text": f"{words[y][i % 4]} day {i}"}, expectations={"y": y})
        for i, y in enumerate(["pos", "neg"] * 60)
    ]
    data.commit(tenant.project.id, "reviews", rows, actor="test", create=True)
    url = "/api/v1/projects/acme/datasets/reviews/simulations"
    body = {"label_field": "y", "strategies": ["entropy", "k_center"], "initial": 6,
            "batch": 6, "rounds": 3}  # fmt: skip
    made = client.post(url, json=body, headers=tenant.headers("editor"))
    assert made.status_code == 201, made.text
    curves = made.json()["curves"]
    assert list(curves) == ["random", "entropy", "k_center"]
    assert curves["entropy"]["labels"] == [6, 12, 18, 24]
    assert all(0 <= a <= 1 for a in curves["entropy"]["accuracy"])
    listed = client.get(url, headers=tenant.headers("viewer")).json()
    assert [s["id"] for s in listed] == [made.json()["id"]]
    bad = client.post(url, json=body | {"label_field": "nope"}, headers=tenant.headers("editor"))
    assert_error(bad, 422, "invalid_request")
    assert "at least 10" in bad.text


def test_model_based_functions_through_the_service(
    runtime: Runtime, tenant: Tenant, mail: None, tmp_path: Path
) -> None:
    """An LLM annotator (scripted upstream, provider registry) and a saved local text model."""
    model = TextModel().fit(SPAM * 3 + HAM * 3, ["spam"] * 12 + ["ham"] * 12)
    ModelStore.for_data_dir(tmp_path).save("mailclf", model)
    registry = ProviderRegistry(builtins=False)
    with ScriptedUpstream() as upstream:
        registry.register_endpoint("annotator", base_url=upstream.base_url)
        upstream.script(json.dumps({"label": "spam", "confidence": 0.9}), match="CASH")
        upstream.script(status=400, error={"message": "bad input"}, match="boom")
        upstream.script(json.dumps({"label": "ham", "confidence": 0.2}))
        labeling = Labeling(runtime.db, runtime.tenancy.audit, data_dir=tmp_path,
                            providers=registry)  # fmt: skip
        specs = [
            LFSpec(kind="llm", name="judge", model="annotator/small", threshold=0.5),
            LFSpec(kind="text_model", name="clf", model="mailclf@1", threshold=0.6),
        ]
        try:
            matrix = labeling.apply(tenant.project.id, "mail", specs=specs,
                                    classes=["ham", "spam"], actor="test")  # fmt: skip
        finally:
            registry.close()
    assert matrix.status == "done", matrix.error
    assert matrix.failures["counts"] == {"judge": 1}
    assert "ProviderError" in matrix.failures["examples"][0]["error"]
    _, votes, _ = labeling.load(tenant.project.id, "mail", "default")
    judge = votes.to_frame()["judge"].tolist()
    assert judge == [None, None, None, "spam", None, None, None, None]
    clf = votes.to_frame()["clf"]
    assert clf["m0"] == "spam" and clf["m4"] == "ham"
    assert [f["kind"] for f in matrix.functions] == ["llm", "text_model"]


def test_the_documented_function_specs_are_valid() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "labeling.md"
    block = re.search(r"```json\n(.*?)```", docs.read_text(), flags=re.S)
    assert block is not None
    specs = [LFSpec.model_validate(item) for item in json.loads(block.group(1))]
    assert [s.kind for s in specs] == ["keyword", "regex", "python"]
