"""Label matrices stored per dataset version, label-model fits and learning curves.

A matrix is stored packed: the votes as one zlib-compressed ``int16`` array (``-1`` for
abstain) in a binary column, with the record ids beside it, so 100,000 records x 20
functions is one row of a few hundred kilobytes written in well under a second. A fit
stores its probabilistic labels the same way (``float32``). Rules live in
:mod:`llmloop.labeling.service`.
"""

from __future__ import annotations

import builtins
import json
import zlib
from contextlib import nullcontext
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.engine import Connection, RowMapping

from llmloop.errors import NotFoundError
from llmloop.records import Frozen, new_id, utcnow
from llmloop.store.database import Database
from llmloop.store.schema import JsonType, UtcDateTime, metadata

label_matrices = Table(
    "label_matrices",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("dataset_id", String(64), ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version_id", String(80), nullable=False),
    Column("name", String(100), nullable=False),
    Column("classes", JsonType, nullable=False),
    Column("functions", JsonType, nullable=False),
    Column("gold_field", String(200), nullable=True),
    Column("status", String(16), nullable=False),
    Column("progress", Float, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("columns", Integer, nullable=False),
    Column("failures", JsonType, nullable=False),
    Column("error", Text, nullable=True),
    Column("seconds", Float, nullable=False),
    Column("votes", LargeBinary, nullable=True),
    Column("record_ids", LargeBinary, nullable=True),
    Column("gold", LargeBinary, nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("dataset_id", "version_id", "name"),
    Index("ix_label_matrices_project_dataset", "project_id", "dataset_id"),
)

label_model_fits = Table(
    "label_model_fits",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "matrix_id",
        String(64),
        ForeignKey("label_matrices.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("settings", JsonType, nullable=False),
    Column("report", JsonType, nullable=False),
    Column("probabilities", LargeBinary, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

label_simulations = Table(
    "label_simulations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("dataset_id", String(64), ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version_id", String(80), nullable=False),
    Column("settings", JsonType, nullable=False),
    Column("curves", JsonType, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_label_simulations_project_dataset", "project_id", "dataset_id"),
)


# --------------------------------------------------------------------------- packing


def pack_array(array: npt.NDArray[Any]) -> bytes:
    """``dtype|shape`` header and the raw bytes, zlib-compressed (level 1: fast)."""
    header = json.dumps({"dtype": array.dtype.str, "shape": list(array.shape)}).encode()
    return zlib.compress(len(header).to_bytes(4, "big") + header + array.tobytes(), 1)


def unpack_array(blob: bytes) -> npt.NDArray[Any]:
    raw = zlib.decompress(blob)
    size = int.from_bytes(raw[:4], "big")
    header = json.loads(raw[4 : 4 + size])
    array = np.frombuffer(raw[4 + size :], dtype=np.dtype(header["dtype"]))
    return array.reshape(header["shape"]).copy()


def pack_strings(values: list[str | None]) -> bytes:
    return zlib.compress(json.dumps(values).encode(), 1)


def unpack_strings(blob: bytes) -> list[str | None]:
    values: list[str | None] = json.loads(zlib.decompress(blob))
    return values


# --------------------------------------------------------------------------- domain types


class StoredMatrix(Frozen):
    """A label matrix's description; the votes are read with :meth:`votes`."""

    id: str
    project_id: str
    dataset_id: str
    version_id: str
    name: str
    classes: list[str]
    functions: list[dict[str, Any]]
    gold_field: str | None = None
    status: str
    progress: float
    rows: int
    columns: int
    failures: dict[str, Any]
    error: str | None = None
    seconds: float
    created_by: str
    created_at: datetime


class StoredFit(Frozen):
    id: str
    matrix_id: str
    settings: dict[str, Any]
    report: dict[str, Any]
    created_by: str
    created_at: datetime


class StoredSimulation(Frozen):
    id: str
    project_id: str
    dataset_id: str
    version_id: str
    settings: dict[str, Any]
    curves: dict[str, dict[str, list[float]]]
    created_by: str
    created_at: datetime


_MATRIX_FIELDS = list(StoredMatrix.model_fields)


def _to_matrix(row: RowMapping) -> StoredMatrix:
    return StoredMatrix(**{k: row[k] for k in _MATRIX_FIELDS})


def _to_fit(row: RowMapping) -> StoredFit:
    return StoredFit(**{k: row[k] for k in StoredFit.model_fields})


def _to_simulation(row: RowMapping) -> StoredSimulation:
    return StoredSimulation(**{k: row[k] for k in StoredSimulation.model_fields})


_DESCRIPTION = [label_matrices.c[name] for name in _MATRIX_FIELDS]


class LabelMatrixRepository:
    """Rows of label matrices, their fits and simulations."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---------------------------------------------------------------- matrices

    def create(
        self,
        project_id: str,
        dataset_id: str,
        version_id: str,
        name: str,
        *,
        classes: list[str],
        functions: list[dict[str, Any]],
        gold_field: str | None,
        rows: int,
        actor: str,
        conn: Connection | None = None,
    ) -> StoredMatrix:
        """A new matrix in status ``running``; :meth:`finish` stores its votes."""
        matrix = StoredMatrix(
            id=new_id("lm"),
            project_id=project_id,
            dataset_id=dataset_id,
            version_id=version_id,
            name=name,
            classes=classes,
            functions=functions,
            gold_field=gold_field,
            status="running",
            progress=0.0,
            rows=rows,
            columns=len(functions),
            failures={},
            seconds=0.0,
            created_by=actor,
            created_at=utcnow(),
        )
        with self.db.begin(conn) as c:
            c.execute(label_matrices.insert().values(**matrix.model_dump()))
        return matrix

    def progress(self, matrix_id: str, share: float) -> None:
        with self.db.begin() as c:
            c.execute(
                label_matrices.update()
                .where(label_matrices.c.id == matrix_id)
                .values(progress=float(share))
            )

    def finish(
        self,
        matrix_id: str,
        *,
        votes: npt.NDArray[np.int16],
        record_ids: builtins.list[str],
        gold: builtins.list[str | None] | None,
        failures: dict[str, Any],
        seconds: float,
    ) -> None:
        values = {
            "status": "done",
            "progress": 1.0,
            "votes": pack_array(np.ascontiguousarray(votes, dtype=np.int16)),
            "record_ids": pack_strings(list(record_ids)),
            "gold": None if gold is None else pack_strings(gold),
            "failures": failures,
            "seconds": seconds,
        }
        with self.db.begin() as c:
            c.execute(
                label_matrices.update().where(label_matrices.c.id == matrix_id).values(**values)
            )

    def fail(self, matrix_id: str, error: str, seconds: float) -> None:
        with self.db.begin() as c:
            c.execute(
                label_matrices.update()
                .where(label_matrices.c.id == matrix_id)
                .values(status="failed", error=error[:5000], seconds=seconds)
            )

    def delete(self, matrix_id: str, *, conn: Connection | None = None) -> None:
        with self.db.begin(conn) as c:
            c.execute(label_matrices.delete().where(label_matrices.c.id == matrix_id))

    def find(
        self, project_id: str, dataset_id: str, name_or_id: str, *, conn: Connection | None = None
    ) -> StoredMatrix | None:
        query = select(*_DESCRIPTION).where(
            label_matrices.c.project_id == project_id,
            label_matrices.c.dataset_id == dataset_id,
            (label_matrices.c.id == name_or_id) | (label_matrices.c.name == name_or_id),
        )
        with self.db.connect() if conn is None else nullcontext(conn) as c:
            rows = list(c.execute(query.order_by(label_matrices.c.created_at.desc())).mappings())
        return _to_matrix(rows[0]) if rows else None

    def get(self, project_id: str, matrix_id: str) -> StoredMatrix:
        query = select(*_DESCRIPTION).where(
            label_matrices.c.project_id == project_id, label_matrices.c.id == matrix_id
        )
        with self.db.connect() as c:
            row = c.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"label matrix {matrix_id!r} not found in this project")
        return _to_matrix(row)

    def list(self, project_id: str, dataset_id: str | None = None) -> list[StoredMatrix]:
        query = select(*_DESCRIPTION).where(label_matrices.c.project_id == project_id)
        if dataset_id is not None:
            query = query.where(label_matrices.c.dataset_id == dataset_id)
        with self.db.connect() as c:
            rows = c.execute(query.order_by(label_matrices.c.created_at.desc())).mappings()
            return [_to_matrix(r) for r in rows]

    def votes(
        self, matrix_id: str
    ) -> tuple[npt.NDArray[np.int16], builtins.list[str], builtins.list[str | None] | None]:
        """The votes, the record ids and the gold labels (when stored) of a finished matrix."""
        query = select(
            label_matrices.c.votes, label_matrices.c.record_ids, label_matrices.c.gold
        ).where(label_matrices.c.id == matrix_id)
        with self.db.connect() as c:
            row = c.execute(query).first()
        if row is None or row.votes is None:
            raise NotFoundError(f"label matrix {matrix_id!r} has no stored votes yet")
        ids = [str(i) for i in unpack_strings(row.record_ids)]
        gold = None if row.gold is None else unpack_strings(row.gold)
        return unpack_array(row.votes), ids, gold

    # ---------------------------------------------------------------- fits

    def add_fit(
        self,
        matrix_id: str,
        *,
        settings: dict[str, Any],
        report: dict[str, Any],
        probabilities: npt.NDArray[np.float64],
        actor: str,
    ) -> StoredFit:
        fit = StoredFit(
            id=new_id("lmf"),
            matrix_id=matrix_id,
            settings=settings,
            report=report,
            created_by=actor,
            created_at=utcnow(),
        )
        blob = pack_array(np.asarray(probabilities, dtype=np.float32))
        with self.db.begin() as c:
            c.execute(label_model_fits.insert().values(**fit.model_dump(), probabilities=blob))
        return fit

    def latest_fit(self, matrix_id: str) -> StoredFit | None:
        columns = [label_model_fits.c[name] for name in StoredFit.model_fields]
        query = (
            select(*columns)
            .where(label_model_fits.c.matrix_id == matrix_id)
            .order_by(label_model_fits.c.created_at.desc())
            .limit(1)
        )
        with self.db.connect() as c:
            row = c.execute(query).mappings().first()
        return None if row is None else _to_fit(row)

    def probabilities(self, fit_id: str) -> npt.NDArray[np.float32]:
        query = select(label_model_fits.c.probabilities).where(label_model_fits.c.id == fit_id)
        with self.db.connect() as c:
            blob = c.execute(query).scalar_one()
        return unpack_array(blob)

    # ---------------------------------------------------------------- simulations

    def add_simulation(
        self,
        project_id: str,
        dataset_id: str,
        version_id: str,
        *,
        settings: dict[str, Any],
        curves: dict[str, dict[str, builtins.list[float]]],
        actor: str,
    ) -> StoredSimulation:
        simulation = StoredSimulation(
            id=new_id("lsim"),
            project_id=project_id,
            dataset_id=dataset_id,
            version_id=version_id,
            settings=settings,
            curves=curves,
            created_by=actor,
            created_at=utcnow(),
        )
        with self.db.begin() as c:
            c.execute(label_simulations.insert().values(**simulation.model_dump()))
        return simulation

    def simulations(self, project_id: str, dataset_id: str) -> builtins.list[StoredSimulation]:
        query = (
            select(label_simulations)
            .where(
                label_simulations.c.project_id == project_id,
                label_simulations.c.dataset_id == dataset_id,
            )
            .order_by(label_simulations.c.created_at.desc())
        )
        with self.db.connect() as c:
            return [_to_simulation(r) for r in c.execute(query).mappings()]


__all__ = [
    "LabelMatrixRepository",
    "StoredFit",
    "StoredMatrix",
    "StoredSimulation",
    "label_matrices",
    "label_model_fits",
    "label_simulations",
    "pack_array",
    "unpack_array",
]
