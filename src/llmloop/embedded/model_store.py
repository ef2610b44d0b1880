"""Saved local models: immutable numbered versions on disk, each with a manifest.

Layout, under ``Settings.data_dir / "models"``::

    <name>/<version>/model.joblib     the fitted model (joblib, i.e. pickle)
    <name>/<version>/manifest.json    what it is: kind, created_at, training-set size,
                                      classes, metrics, parent version, sha256 of the file

Versions are 1, 2, 3, ... and ``latest`` is the highest. A version is written to a hidden
temporary folder and renamed into place in one step, so readers never see half a
version, two writers never share a number, and nothing rewrites a saved version; its
files are made read-only. Loading checks the artifact's sha256 against the manifest.

Why joblib and not skops: joblib comes with scikit-learn, stores numpy arrays
efficiently and loads any of our model classes without a list of trusted types. Its
cost is pickle's: loading runs code from the file, so load only models this store wrote
(the data directory is trusted like the SQLite database next to it). skops would make
loading safe against a hostile file, at the price of a dependency and of declaring every
custom class as trusted; revisit when models are exchanged between installations.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import stat
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import sklearn
from pydantic import BaseModel, ConfigDict, Field

from llmloop.embedded.embeddings import BUILTIN_EMBEDDERS
from llmloop.embedded.hashed import HashedEmbedder
from llmloop.embedded.text_model import TextModel
from llmloop.errors import NotFoundError, StoreError, ValidationError

LocalModel = TextModel | HashedEmbedder
ModelKind = Literal["text-classifier", "embedder"]

ARTIFACT = "model.joblib"
MANIFEST = "manifest.json"
#: Names of the built-in embedders served as ``local/<name>``; a saved model can't take them.
RESERVED_NAMES = frozenset(BUILTIN_EMBEDDERS)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SAVE_ATTEMPTS = 20


class ModelManifest(BaseModel):
    """What a saved version is. Stored as ``manifest.json`` beside the artifact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: int
    kind: ModelKind
    created_at: datetime
    training_size: int
    classes: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    parent_version: int | None = None
    description: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    format: Literal["joblib"] = "joblib"
    artifact: str = ARTIFACT
    artifact_sha256: str
    library_versions: dict[str, str] = Field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``<name>@<version>``, as the ``local/`` provider accepts it."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class LoadedModel:
    manifest: ModelManifest
    model: LocalModel


def check_model_name(name: str) -> str:
    """``name`` if it can name a saved model, else a ValidationError saying why."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"model name {name!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if name in RESERVED_NAMES:
        raise ValidationError(
            f"model name {name!r} is reserved for a built-in embedder "
            f"({', '.join(sorted(RESERVED_NAMES))}): choose another name"
        )
    return name


def _kind(model: object) -> ModelKind:
    if isinstance(model, TextModel):
        if not model.is_fitted:
            raise ValidationError("this TextModel is not fitted: fit it before saving")
        return "text-classifier"
    if isinstance(model, HashedEmbedder):
        return "embedder"
    raise ValidationError(
        f"cannot save a {type(model).__name__}: the model store keeps TextModel and "
        "HashedEmbedder objects"
    )


def _describe(model: LocalModel) -> tuple[int, list[str], dict[str, Any]]:
    """Training-set size, classes and details of a model, for its manifest."""
    if isinstance(model, TextModel):
        return model.training_size, list(model.classes), model.describe()
    details = {"space": model.space, "dimension": model.dimension, "config": asdict(model.config)}
    return model.corpus_size, [], details


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _library_versions() -> dict[str, str]:
    return {
        "llmloop": importlib.metadata.version("llmloop"),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


class ModelStore:
    """Saved local models under one root folder (``<data_dir>/models``)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @classmethod
    def for_data_dir(cls, data_dir: Path | str) -> ModelStore:
        return cls(Path(data_dir) / "models")

    def __repr__(self) -> str:
        return f"ModelStore({str(self.root)!r})"

    # ------------------------------------------------------------------ reading

    def names(self) -> list[str]:
        """Names that have at least one saved version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and _NAME.match(p.name) and self._version_numbers(p.name)
        )

    def _version_numbers(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(
            int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / MANIFEST).is_file()
        )

    def resolve(self, name: str, version: int | str | None = "latest") -> int:
        """The version number that ``version`` (a number or ``latest``) means for ``name``."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise NotFoundError(
                f"{name!r} is not a model name (letters, digits, '.', '_', '-'): "
                f"saved models are {', '.join(self.names()) or 'none yet'}"
            )
        numbers = self._version_numbers(name)
        if not numbers:
            known = ", ".join(self.names()) or "none yet"
            raise NotFoundError(
                f"no saved model named {name!r} in {self.root} (saved models: {known}): "
                "train one and save it with ModelStore.save(name, model)"
            )
        if version is None or version == "latest":
            return numbers[-1]
        text = str(version).removeprefix("v")
        if not text.isdigit() or int(text) not in numbers:
            raise NotFoundError(
                f"model {name!r} has no version {version!r}: its versions are "
                f"{numbers} (or 'latest')"
            )
        return int(text)

    def manifest(self, name: str, version: int | str | None = "latest") -> ModelManifest:
        path = self.root / name / str(self.resolve(name, version)) / MANIFEST
        try:
            return ModelManifest.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"manifest {path} cannot be read ({exc}): restore the file from a backup "
                "or save the model again as a new version"
            ) from None

    def versions(self, name: str) -> list[ModelManifest]:
        """Every saved version of ``name``, oldest first."""
        return [self.manifest(name, n) for n in self._version_numbers(name)]

    def latest(self) -> list[ModelManifest]:
        """The latest version of each saved model, by name."""
        return [self.manifest(name) for name in self.names()]

    def load(self, name: str, version: int | str | None = "latest") -> LoadedModel:
        """The model and manifest of ``name`` at ``version`` (default ``latest``)."""
        manifest = self.manifest(name, version)
        path = self.root / name / str(manifest.version) / manifest.artifact
        if not path.is_file():
            raise StoreError(f"{path} is missing: version {manifest.ref} cannot be loaded")
        digest = _sha256(path)
        if digest != manifest.artifact_sha256:
            raise StoreError(
                f"{path} has sha256 {digest} but its manifest says "
                f"{manifest.artifact_sha256}: the file was changed or damaged; "
                "restore it or use another version"
            )
        model = joblib.load(path)
        if _kind(model) != manifest.kind:
            raise StoreError(
                f"{path} holds a {type(model).__name__}, manifest says {manifest.kind}"
            )
        return LoadedModel(manifest=manifest, model=model)

    # ------------------------------------------------------------------ writing

    def save(
        self,
        name: str,
        model: LocalModel,
        *,
        metrics: dict[str, float] | None = None,
        description: str = "",
        parent_version: int | None = None,
    ) -> ModelManifest:
        """Save ``model`` as the next version of ``name`` and return its manifest."""
        check_model_name(name)
        kind = _kind(model)
        if parent_version is not None:
            self.resolve(name, parent_version)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            joblib.dump(model, staging / ARTIFACT, compress=3)
            size, classes, details = _describe(model)
            draft = {
                "name": name,
                "kind": kind,
                "created_at": datetime.now(UTC),
                "training_size": size,
                "classes": classes,
                "metrics": dict(metrics or {}),
                "parent_version": parent_version,
                "description": description,
                "details": json.loads(json.dumps(details)),  # as it will read back
                "artifact_sha256": _sha256(staging / ARTIFACT),
                "library_versions": _library_versions(),
            }
            manifest = self._publish(folder, staging, draft)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return manifest

    def _publish(self, folder: Path, staging: Path, draft: dict[str, Any]) -> ModelManifest:
        """Rename ``staging`` to the next free version number; retry if another writer won."""
        for _ in range(_SAVE_ATTEMPTS):
            numbers = self._version_numbers(folder.name)
            manifest = ModelManifest(version=(numbers[-1] + 1) if numbers else 1, **draft)
            (staging / MANIFEST).write_text(
                json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8"
            )
            target = folder / str(manifest.version)
            try:
                os.rename(staging, target)
            except OSError:
                if target.exists():
                    continue  # another writer took this number: take the next
                raise
            for file in target.iterdir():
                file.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            return manifest
        raise StoreError(
            f"could not claim a version number for {folder.name!r} after {_SAVE_ATTEMPTS} "
            "attempts: too many concurrent saves; try again"
        )
