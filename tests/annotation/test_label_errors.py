"""Label errors: confident learning on out-of-fold probabilities of the local text model."""

from __future__ import annotations

import random

import pytest
from fastapi.testclient import TestClient

from llmloop.annotation import find_issues, out_of_fold_probs
from llmloop.data.datasets import Datasets
from llmloop.errors import ValidationError
from llmloop.records import Record
from llmloop.runtime import Runtime
from support import Tenant, assert_error

VOCAB = {
    "bug": ["crash", "error", "freezes", "button", "login fails", "blank screen"],
    "refund": ["refund", "money back", "charged", "return", "reimburse", "payment"],
    "shipping": ["parcel", "delivery", "courier", "tracking", "arrived", "shipped"],
}
FILLER = ["please", "help", "today", "my", "the", "order", "account", "again", "hello", "urgent"]


def noisy_set(n: int = 600, flip_share: float = 0.05, seed: int = 7):  # type: ignore[no-untyped-def]
    """Texts with their true class, and labels of which ``flip_share`` are wrong."""
    rng = random.Random(seed)
    classes = sorted(VOCAB)
    texts, truth = [], []
    for i in range(n):
        cls = classes[i % len(classes)]
        words = rng.sample(VOCAB[cls], 2) + rng.sample(FILLER, 4)
        rng.shuffle(words)
        texts.append(" ".join(words))
        truth.append(cls)
    labels = list(truth)
    flipped = set(rng.sample(range(n), round(n * flip_share)))
    for i in flipped:
        labels[i] = rng.choice([c for c in classes if c != truth[i]])
    return texts, truth, labels, flipped


def test_flags_most_flipped_labels_and_few_others() -> None:
    texts, truth, labels, flipped = noisy_set()
    probs, classes = out_of_fold_probs(texts, labels, folds=5)
    assert classes == ["bug", "refund", "shipping"]
    assert probs.shape == (600, 3)
    issues = find_issues(labels, probs, classes)
    found = {i for i, _, _ in issues}
    precision = len(found & flipped) / len(found)
    recall = len(found & flipped) / len(flipped)
    print(f"label errors: {len(flipped)} flipped, {len(found)} flagged, "
          f"precision {precision:.3f}, recall {recall:.3f}")  # fmt: skip
    assert precision >= 0.8 and recall >= 0.7
    # the suggestion is the true class for the flipped records found
    suggested = {i: classes[s] for i, _, s in issues}
    right = sum(suggested[i] == truth[i] for i in found & flipped)
    assert right / len(found & flipped) >= 0.9
    qualities = [q for _, q, _ in issues]
    assert qualities == sorted(qualities)  # most likely errors first


def test_refuses_what_cannot_be_cross_validated() -> None:
    with pytest.raises(ValidationError, match="at least 2 classes"):
        out_of_fold_probs(["a b"] * 10, ["x"] * 10)
    with pytest.raises(ValidationError, match=r"\['y'\] have fewer"):
        out_of_fold_probs(["a", "b", "c"], ["x", "x", "y"])


def test_flags_go_to_a_review_queue(client: TestClient, tenant: Tenant, runtime: Runtime) -> None:
    texts, _, labels, flipped = noisy_set(300, seed=3)
    records = [
        Record(id=f"r{i}", inputs={"text": t}, expectations={"intent": label})
        for i, (t, label) in enumerate(zip(texts, labels, strict=True))
    ]
    records.append(Record(id="unlabeled", inputs={"text": "no label here"}))
    Datasets(runtime.db, runtime.tenancy.audit).commit(
        tenant.project.id, "noisy", records, actor="key:admin", create=True
    )
    url = f"/api/v1/projects/{tenant.project.name}/queues/label-errors"
    body = {"dataset": "noisy", "field": "intent", "text_field": "text", "queue": "suspects"}
    response = client.post(url, json=body, headers=tenant.headers("editor"))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["records"] == 300 and report["skipped"] == 1 and report["folds"] == 5
    flagged = {int(f["record_id"][1:]) for f in report["flagged"]}
    assert len(flagged & flipped) / len(flipped) >= 0.6
    queue = report["queue"]
    assert queue["queue"]["label_schema"]["classes"] == ["bug", "refund", "shipping"]
    assert queue["queue"]["label_schema"]["field"] == "intent"
    assert queue["progress"]["items"] == len(report["flagged"])

    items = client.get(
        f"/api/v1/projects/{tenant.project.name}/queues/suspects/items",
        headers=tenant.headers("viewer"),
    ).json()["items"]
    first = items[0]["item"]
    expected = report["flagged"][0]
    assert first["ref"]["record_id"] == expected["record_id"]
    assert first["hints"]["given"] == expected["given"]
    assert first["hints"]["suggested"] == expected["suggested"]

    few = {"dataset": "noisy", "field": "missing"}
    error = assert_error(client.post(url, json=few, headers=tenant.headers("editor")), 422,
                         "invalid_request")  # fmt: skip
    assert "expectations['missing']" in error["message"]
    unknown = client.post(url, json={"dataset": "nope"}, headers=tenant.headers("editor"))
    assert_error(unknown, 404, "not_found")
