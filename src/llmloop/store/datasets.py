"""Datasets: named collections of immutable, content-addressed versions of records.

A version's id is the digest of its records' content hashes, in order, so the same
content always gets the same id within a dataset. Its records live in their own table,
once per version. Aliases (``latest``, ``golden``, custom) are pointers to versions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from pydantic import field_validator
from sqlalchemy import (
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.engine import Connection, RowMapping

from llmloop.errors import ConflictError, NotFoundError
from llmloop.records import Frozen, Record, RecordSource, new_id, utcnow
from llmloop.store.database import Database
from llmloop.store.schema import JsonType, UtcDateTime, metadata

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("project_id", "name"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("dataset_id", String(64), ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("id", String(80), nullable=False),
    Column("number", Integer, nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("parent_id", String(80), nullable=True),
    Column("message", Text, nullable=False),
    Column("schema", JsonType, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("dataset_id", "id"),
    UniqueConstraint("dataset_id", "number"),
)

dataset_records = Table(
    "dataset_records",
    metadata,
    Column("dataset_id", String(64), nullable=False),
    Column("version_id", String(80), nullable=False),
    Column("position", Integer, nullable=False),
    Column("record_id", String(200), nullable=False),
    Column("inputs", JsonType, nullable=False),
    Column("outputs", JsonType, nullable=True),
    Column("expectations", JsonType, nullable=True),
    Column("metadata", JsonType, nullable=False),
    Column("source", JsonType, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("dataset_id", "version_id", "position"),
    ForeignKeyConstraint(
        ["dataset_id", "version_id"],
        ["dataset_versions.dataset_id", "dataset_versions.id"],
        name="fk_dataset_records_version",
        ondelete="CASCADE",
    ),
    UniqueConstraint("dataset_id", "version_id", "record_id"),
)

dataset_aliases = Table(
    "dataset_aliases",
    metadata,
    Column("dataset_id", String(64), ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("version_id", String(80), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("dataset_id", "name"),
    ForeignKeyConstraint(
        ["dataset_id", "version_id"],
        ["dataset_versions.dataset_id", "dataset_versions.id"],
        name="fk_dataset_aliases_version",
    ),
    Index("ix_dataset_aliases_version", "dataset_id", "version_id"),
)


# --------------------------------------------------------------------------- domain types


class FieldInfo(Frozen):
    """One key of a record part: how often it is present and with which value types."""

    present: int = 0
    types: dict[str, int] = {}


class DatasetSchema(Frozen):
    """What a version's records look like, inferred from their content."""

    inputs: dict[str, FieldInfo] = {}
    outputs: dict[str, FieldInfo] = {}
    expectations: dict[str, FieldInfo] = {}
    metadata: dict[str, FieldInfo] = {}
    slices: dict[str, dict[str, int]] = {}

    @field_validator("inputs", "outputs", "expectations", "metadata", "slices")
    @classmethod
    def _ordered(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Keys by name and slice values by count (JSONB does not keep the stored order)."""
        ordered = {key: value[key] for key in sorted(value)}
        return {
            key: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0])))
            if isinstance(v, dict) and all(isinstance(c, int) for c in v.values())
            else v
            for key, v in ordered.items()
        }


class Dataset(Frozen):
    id: str
    project_id: str
    name: str
    description: str = ""
    created_at: datetime


class DatasetVersion(Frozen):
    """An immutable list of records; ``id`` is the digest of their content hashes."""

    id: str
    dataset_id: str
    number: int
    record_count: int
    parent_id: str | None = None
    message: str = ""
    field_schema: DatasetSchema
    created_by: str
    created_at: datetime

    @property
    def label(self) -> str:
        return f"v{self.number}"


class DatasetAlias(Frozen):
    name: str
    version_id: str
    updated_by: str
    updated_at: datetime


def version_digest(records: Sequence[Record]) -> str:
    """The content address of an ordered list of records."""
    hasher = hashlib.sha256()
    for record in records:
        hasher.update(record.content_hash().encode())
        hasher.update(b"\n")
    return "dsv_" + hasher.hexdigest()[:40]


# --------------------------------------------------------------------------- conversion


def _to_dataset(row: RowMapping) -> Dataset:
    return Dataset(**{k: row[k] for k in Dataset.model_fields})


def _to_version(row: RowMapping) -> DatasetVersion:
    return DatasetVersion(
        id=row["id"],
        dataset_id=row["dataset_id"],
        number=row["number"],
        record_count=row["record_count"],
        parent_id=row["parent_id"],
        message=row["message"],
        field_schema=DatasetSchema.model_validate(row["schema"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def _to_record(row: RowMapping) -> Record:
    return Record(
        id=row["record_id"],
        inputs=row["inputs"],
        outputs=row["outputs"],
        expectations=row["expectations"],
        metadata=row["metadata"],
        source=RecordSource.model_validate(row["source"]),
        created_at=row["created_at"],
    )


def _record_row(dataset_id: str, version_id: str, position: int, record: Record) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "version_id": version_id,
        "position": position,
        "record_id": record.id,
        "inputs": record.inputs,
        "outputs": record.outputs,
        "expectations": record.expectations,
        "metadata": record.metadata,
        "source": record.source.model_dump(mode="json"),
        "content_hash": record.content_hash(),
        "created_at": record.created_at,
    }


# --------------------------------------------------------------------------- repository


class DatasetRepository:
    """Rows of datasets, their versions, records and aliases. Rules live in llmloop.data."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---------------------------------------------------------------- datasets

    def create(
        self, project_id: str, name: str, description: str = "", *, conn: Connection | None = None
    ) -> Dataset:
        dataset = Dataset(
            id=new_id("ds"),
            project_id=project_id,
            name=name,
            description=description,
            created_at=utcnow(),
        )
        with self.db.begin(conn) as c:
            if _find(c, project_id, name) is not None:
                raise ConflictError(
                    f"dataset {name!r} already exists in this project; "
                    "commit a new version to it instead"
                )
            c.execute(datasets.insert().values(**dataset.model_dump()))
        return dataset

    def get(self, project_id: str, name_or_id: str, *, conn: Connection | None = None) -> Dataset:
        with self.db.connect() if conn is None else nullcontext(conn) as c:
            dataset = _find(c, project_id, name_or_id)
        if dataset is None:
            raise NotFoundError(f"dataset {name_or_id!r} not found in this project")
        return dataset

    def lock(self, project_id: str, dataset_id: str, conn: Connection) -> Dataset:
        """Re-read the dataset row, locking it until ``conn`` commits (PostgreSQL)."""
        query = (
            select(datasets)
            .where(datasets.c.project_id == project_id, datasets.c.id == dataset_id)
            .with_for_update()
        )
        row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"dataset {dataset_id!r} not found in this project")
        return _to_dataset(row)

    def count(self, project_id: str) -> int:
        query = select(func.count()).where(datasets.c.project_id == project_id)
        with self.db.connect() as c:
            return int(c.execute(query).scalar_one())

    # ---------------------------------------------------------------- versions

    def find_version(
        self, dataset_id: str, version_id: str, *, conn: Connection | None = None
    ) -> DatasetVersion | None:
        query = select(dataset_versions).where(
            dataset_versions.c.dataset_id == dataset_id, dataset_versions.c.id == version_id
        )
        with self.db.connect() if conn is None else nullcontext(conn) as c:
            row = c.execute(query).mappings().first()
        return None if row is None else _to_version(row)

    def version_by_number(self, dataset_id: str, number: int) -> DatasetVersion | None:
        query = select(dataset_versions).where(
            dataset_versions.c.dataset_id == dataset_id, dataset_versions.c.number == number
        )
        with self.db.connect() as c:
            row = c.execute(query).mappings().first()
        return None if row is None else _to_version(row)

    def versions(self, dataset_id: str) -> list[DatasetVersion]:
        query = (
            select(dataset_versions)
            .where(dataset_versions.c.dataset_id == dataset_id)
            .order_by(dataset_versions.c.number.desc())
        )
        with self.db.connect() as c:
            return [_to_version(r) for r in c.execute(query).mappings()]

    def add_version(
        self,
        dataset_id: str,
        records: Sequence[Record],
        schema: DatasetSchema,
        *,
        actor: str,
        message: str,
        parent_id: str | None,
        conn: Connection,
    ) -> DatasetVersion:
        """Insert a new version and its records; the caller holds the dataset's lock."""
        top = select(func.max(dataset_versions.c.number)).where(
            dataset_versions.c.dataset_id == dataset_id
        )
        number = int(conn.execute(top).scalar_one() or 0) + 1
        version = DatasetVersion(
            id=version_digest(records),
            dataset_id=dataset_id,
            number=number,
            record_count=len(records),
            parent_id=parent_id,
            message=message,
            field_schema=schema,
            created_by=actor,
            created_at=utcnow(),
        )
        row = version.model_dump(exclude={"field_schema"})
        conn.execute(dataset_versions.insert().values(**row, schema=schema.model_dump(mode="json")))
        rows = [_record_row(dataset_id, version.id, i, r) for i, r in enumerate(records)]
        for start in range(0, len(rows), 1000):
            conn.execute(dataset_records.insert(), rows[start : start + 1000])
        return version

    # ---------------------------------------------------------------- records

    def records(
        self, dataset_id: str, version_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[Record]:
        query = (
            select(dataset_records)
            .where(
                dataset_records.c.dataset_id == dataset_id,
                dataset_records.c.version_id == version_id,
            )
            .order_by(dataset_records.c.position)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.db.connect() as c:
            return [_to_record(r) for r in c.execute(query).mappings()]

    def content_hashes(self, dataset_id: str, version_id: str) -> dict[str, str]:
        """Record id -> content hash for one version, in record order."""
        query = (
            select(dataset_records.c.record_id, dataset_records.c.content_hash)
            .where(
                dataset_records.c.dataset_id == dataset_id,
                dataset_records.c.version_id == version_id,
            )
            .order_by(dataset_records.c.position)
        )
        with self.db.connect() as c:
            return {r.record_id: r.content_hash for r in c.execute(query)}

    # ---------------------------------------------------------------- aliases

    def aliases(self, dataset_id: str) -> list[DatasetAlias]:
        query = (
            select(dataset_aliases)
            .where(dataset_aliases.c.dataset_id == dataset_id)
            .order_by(dataset_aliases.c.name)
        )
        with self.db.connect() as c:
            return [_to_alias(r) for r in c.execute(query).mappings()]

    def alias(
        self, dataset_id: str, name: str, *, conn: Connection | None = None
    ) -> DatasetAlias | None:
        query = select(dataset_aliases).where(
            dataset_aliases.c.dataset_id == dataset_id, dataset_aliases.c.name == name
        )
        with self.db.connect() if conn is None else nullcontext(conn) as c:
            row = c.execute(query).mappings().first()
        return None if row is None else _to_alias(row)

    def set_alias(
        self, dataset_id: str, name: str, version_id: str, *, actor: str, conn: Connection
    ) -> DatasetAlias:
        alias = DatasetAlias(
            name=name, version_id=version_id, updated_by=actor, updated_at=utcnow()
        )
        values = alias.model_dump(exclude={"name"})
        where = (dataset_aliases.c.dataset_id == dataset_id, dataset_aliases.c.name == name)
        updated = conn.execute(dataset_aliases.update().where(*where).values(**values))
        if updated.rowcount == 0:
            conn.execute(
                dataset_aliases.insert().values(dataset_id=dataset_id, name=name, **values)
            )
        return alias

    def list(self, project_id: str) -> list[Dataset]:
        query = (
            select(datasets).where(datasets.c.project_id == project_id).order_by(datasets.c.name)
        )
        with self.db.connect() as c:
            return [_to_dataset(r) for r in c.execute(query).mappings()]


def _to_alias(row: RowMapping) -> DatasetAlias:
    return DatasetAlias(**{k: row[k] for k in DatasetAlias.model_fields})


def _find(c: Connection, project_id: str, name_or_id: str) -> Dataset | None:
    query = select(datasets).where(
        datasets.c.project_id == project_id,
        (datasets.c.name == name_or_id) | (datasets.c.id == name_or_id),
    )
    row = c.execute(query).mappings().first()
    return None if row is None else _to_dataset(row)
