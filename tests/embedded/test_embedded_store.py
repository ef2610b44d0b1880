from __future__ import annotations

import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from llmloop.embedded import HashedEmbedder, ModelStore, TextModel
from llmloop.errors import NotFoundError, StoreError, ValidationError

PROBE = ["my parcel never arrived", "I am locked out, password", "refund please"]


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore.for_data_dir(tmp_path)


def test_save_and_load_give_the_same_predictions(store: ModelStore, trained: TextModel) -> None:
    manifest = store.save("tickets", trained, metrics={"accuracy": 0.97}, description="v1")
    loaded = store.load("tickets")
    assert manifest.version == 1 and manifest.ref == "tickets@1"
    assert loaded.manifest == manifest
    assert isinstance(loaded.model, TextModel)
    np.testing.assert_array_equal(loaded.model.predict_proba(PROBE), trained.predict_proba(PROBE))
    assert loaded.model.templates == trained.templates
    folder = store.root / "tickets" / "1"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "model.joblib"]


def test_manifest_records_what_the_version_is(store: ModelStore, trained: TextModel) -> None:
    manifest = store.save("tickets", trained, metrics={"accuracy": 0.97})
    on_disk = json.loads((store.root / "tickets" / "1" / "manifest.json").read_text())
    assert on_disk["kind"] == "text-classifier"
    assert on_disk["training_size"] == 400
    assert on_disk["classes"] == ["bug", "delivery", "login", "refund"]
    assert on_disk["metrics"] == {"accuracy": 0.97}
    assert on_disk["format"] == "joblib"
    assert on_disk["created_at"].endswith("Z") or "+00:00" in on_disk["created_at"]
    assert len(on_disk["artifact_sha256"]) == 64
    assert {"scikit-learn", "numpy", "llmloop"} <= set(on_disk["library_versions"])
    assert manifest.details["templates"] == {"refund": "Hi {name}, your refund is on its way."}


def test_fine_tuned_version_is_new_and_the_old_one_loads_unchanged(
    store: ModelStore, trained: TextModel, examples
) -> None:
    store.save("tickets", trained)
    v1_bytes = (store.root / "tickets" / "1" / "model.joblib").read_bytes()
    texts, labels = examples(40, seed=8, intents={"cancel": ["cancel my plan", "unsubscribe"]})
    tuned = store.load("tickets").model
    assert isinstance(tuned, TextModel)
    second = store.save("tickets", tuned.fine_tune(texts, labels), parent_version=1)
    assert second.version == 2 and second.parent_version == 1
    assert store.load("tickets").model.predict_one("please unsubscribe me").label == "cancel"
    old = store.load("tickets", 1)
    assert "cancel" not in old.model.classes  # type: ignore[union-attr]
    assert (store.root / "tickets" / "1" / "model.joblib").read_bytes() == v1_bytes
    assert [m.version for m in store.versions("tickets")] == [1, 2]
    assert store.resolve("tickets", "latest") == 2 and store.resolve("tickets", "v1") == 1


def test_saved_files_are_read_only(store: ModelStore, trained: TextModel) -> None:
    store.save("tickets", trained)
    for file in (store.root / "tickets" / "1").iterdir():
        assert not file.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_a_changed_artifact_is_detected(store: ModelStore, trained: TextModel) -> None:
    store.save("tickets", trained)
    path = store.root / "tickets" / "1" / "model.joblib"
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(StoreError, match="changed or damaged"):
        store.load("tickets")


def test_unknown_names_and_versions_say_what_exists(store: ModelStore, trained: TextModel) -> None:
    assert store.names() == [] and store.latest() == []
    store.save("tickets", trained)
    with pytest.raises(NotFoundError, match=r"saved models: tickets"):
        store.load("nope")
    with pytest.raises(NotFoundError, match=r"versions are \[1\]"):
        store.load("tickets", 5)
    with pytest.raises(NotFoundError):
        store.save("tickets", trained, parent_version=9)


def test_a_name_cannot_leave_the_store(store: ModelStore, trained: TextModel) -> None:
    store.save("tickets", trained)
    outside = store.root.parent / "elsewhere"
    store_copy = ModelStore(outside)
    store_copy.save("evil", trained)
    for name in ["../elsewhere/evil", "tickets/../../elsewhere/evil", "/tmp"]:
        with pytest.raises(NotFoundError, match="not a model name"):
            store.load(name)


@pytest.mark.parametrize("name", ["embed", "minilm", "hashed-embed", "a/b", "x@1", "", ".hidden"])
def test_reserved_and_invalid_names_are_refused(
    store: ModelStore, trained: TextModel, name: str
) -> None:
    with pytest.raises(ValidationError, match=repr(name)):
        store.save(name, trained)


def test_unfitted_and_foreign_objects_are_refused(store: ModelStore) -> None:
    with pytest.raises(ValidationError, match="not fitted"):
        store.save("m", TextModel())
    with pytest.raises(ValidationError, match="cannot save a dict"):
        store.save("m", {})  # type: ignore[arg-type]


def test_a_fitted_embedder_round_trips(store: ModelStore, examples) -> None:
    corpus, _ = examples(60, seed=2)
    embedder = HashedEmbedder(dimension=32).fit(corpus)
    manifest = store.save("ticket-space", embedder)
    loaded = store.load("ticket-space").model
    assert manifest.kind == "embedder" and manifest.training_size == 60
    assert manifest.details["space"] == embedder.space
    assert isinstance(loaded, HashedEmbedder)
    np.testing.assert_array_equal(loaded.embed(corpus[:4]), embedder.embed(corpus[:4]))


def test_concurrent_saves_get_distinct_versions(store: ModelStore, trained: TextModel) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = sorted(pool.map(lambda _: store.save("tickets", trained).version, range(6)))
    assert versions == [1, 2, 3, 4, 5, 6]
    assert not [p for p in (store.root / "tickets").iterdir() if p.name.startswith(".")]
