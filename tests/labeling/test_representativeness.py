"""Representativeness: a dataset compared with production traces or another dataset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from llmloop.data.datasets import Datasets
from llmloop.data.diversity import distinct_n, diversity
from llmloop.data.representativeness import CoverageRequest, Item, compare
from llmloop.records import Record
from llmloop.runtime import Runtime
from llmloop.store.traces import TraceRepository
from llmloop.store.traces_types import Span
from support import Tenant, assert_error

EN = [
    "my order has not arrived yet", "where is my parcel", "the delivery is late again",
    "i want a refund for my order", "refund the broken headphones please",
    "how do i reset my password", "i cannot log into my account", "change my email address",
]  # fmt: skip
DE = [
    "meine bestellung ist noch nicht angekommen", "wo ist mein paket bitte",
    "ich möchte eine rückerstattung für meine bestellung", "die lieferung ist schon wieder spät",
    "wie kann ich mein passwort zurücksetzen", "ich kann mich nicht in mein konto einloggen",
]  # fmt: skip
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def root_span(i: int, text: str, language: str) -> Span:
    start = T0 + timedelta(minutes=i)
    return Span(
        trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}", name="support.answer",
        start_time=start, end_time=start + timedelta(seconds=1), duration_ms=1000,
        inputs={"messages": [{"role": "system", "content": "be kind"},
                             {"role": "user", "content": text}]},
        attributes={"language": language},
    )  # fmt: skip


@pytest.fixture
def traffic(runtime: Runtime, tenant: Tenant) -> None:
    """Traces in English and German; the dataset holds English tickets only."""
    spans = [root_span(i, f"{t} ({i})", "en") for i, t in enumerate(EN * 3)]
    spans += [root_span(100 + i, f"{t} ({i})", "de") for i, t in enumerate(DE * 2)]
    TraceRepository(runtime.db).insert(tenant.project.id, spans)
    data = Datasets(runtime.db, runtime.tenancy.audit)
    rows = [
        Record(id=f"d{i}", inputs={"text": t}, metadata={"language": "en"})
        for i, t in enumerate(EN)
    ]
    data.commit(tenant.project.id, "eval", rows, actor="test", create=True)


def test_missing_language_slice_is_reported_and_its_traces_suggested(
    client: TestClient, tenant: Tenant, traffic: None
) -> None:
    body = {"slices": ["language"], "clusters": 4, "suggest": 6, "embedder": "hashed-embed"}
    response = client.post(
        "/api/v1/projects/acme/datasets/eval/coverage", json=body, headers=tenant.headers("viewer")
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["target_items"] == 36 and report["dataset_items"] == 8
    language = next(s for s in report["slices"] if s["key"] == "language")
    assert language["missing"] == ["de"]
    assert language["values"] == ["en", "de"]
    assert language["target"] == pytest.approx([24 / 36, 12 / 36], abs=1e-4)
    assert language["dataset"] == [1.0, 0.0]
    suggested = report["suggestions"]
    assert suggested and all(s["metadata"]["language"] == "de" for s in suggested)
    assert len({s["id"] for s in suggested}) == len(suggested)
    # German traffic (a third of the target) falls in clusters the dataset does not reach
    assert 0.4 < report["coverage_score"] < 0.8
    assert any(c["under_covered"] for c in report["clusters"])
    assert report["dataset_diversity"]["distinct_1"] > 0


def test_time_range_and_bad_requests(client: TestClient, tenant: Tenant, traffic: None) -> None:
    url = "/api/v1/projects/acme/datasets/eval/coverage"
    early = {"until": (T0 + timedelta(minutes=30)).isoformat(), "embedder": "hashed-embed"}
    report = client.post(url, json=early, headers=tenant.headers()).json()
    assert report["target_items"] == 24  # the English traces come first
    empty = {"since": (T0 + timedelta(days=5)).isoformat(), "embedder": "hashed-embed"}
    error = assert_error(client.post(url, json=empty, headers=tenant.headers()), 422,
                         "invalid_request")  # fmt: skip
    assert "target 0" in error["message"]
    both = {"target_dataset": "eval", "since": T0.isoformat()}
    assert_error(client.post(url, json=both, headers=tenant.headers()), 422, "invalid_request")
    assert_error(
        client.post(url, json={"target_dataset": "absent"}, headers=tenant.headers()),
        404, "not_found",
    )  # fmt: skip


def test_compare_two_item_lists_without_a_store() -> None:
    ours = [Item(id=f"a{i}", text=t, slices={"language": "en"}) for i, t in enumerate(EN)]
    theirs = ours + [Item(id=f"b{i}", text=t, slices={"language": "de"}) for i, t in enumerate(DE)]
    request = CoverageRequest(slices=["language"], clusters=3, embedder="hashed-embed")
    report = compare(ours, theirs, request, names=("x", "v1", "y"))
    same = compare(theirs, theirs, request, names=("x", "v1", "y"))
    assert same.coverage_score == pytest.approx(1.0)
    assert report.coverage_score < same.coverage_score
    assert report.slices[0].missing == ["de"]


def test_diversity_figures() -> None:
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n([""], 2) == 0.0
    same = np.tile([[1.0, 0.0]], (4, 1))
    spread = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    assert diversity(["x"] * 4, same).mean_pairwise_distance == pytest.approx(0.0)
    assert diversity(["x"] * 4, spread).mean_pairwise_distance == pytest.approx(4 / 3, abs=1e-4)
