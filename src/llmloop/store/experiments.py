"""Experiments: a matrix of evaluation runs over one dataset version, stored as one row.

Each cell of the matrix (a prompt, a model and parameters) is an ordinary evaluation run;
the experiment keeps the axes, the cells with their run ids, and its own status.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, select, update
from sqlalchemy.engine import RowMapping

from llmloop.errors import NotFoundError
from llmloop.records import Frozen, new_id, utcnow
from llmloop.store.database import Database
from llmloop.store.schema import JsonType, UtcDateTime, metadata

ExperimentStatus = Literal["running", "finished", "failed", "interrupted"]

experiments = Table(
    "experiments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("dataset_ref", String(500), nullable=False),
    Column("dataset_version", String(64), nullable=True),
    Column("axes", JsonType, nullable=False),
    Column("scorers", JsonType, nullable=False),
    Column("cells", JsonType, nullable=False),
    Column("baseline", String(200), nullable=True),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_experiments_project_time", "project_id", "created_at"),
)


class Cell(Frozen):
    """One point of the matrix and the run that evaluated it (None until started)."""

    key: str = Field(description="Stable label of the cell, e.g. 'p0|m1|t0'.")
    prompt: str | None = Field(default=None, description="Prompt label (axis 'prompts').")
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None


class Experiment(Frozen):
    id: str
    project_id: str
    name: str
    dataset_ref: str
    dataset_version: str | None = None
    axes: dict[str, Any] = Field(description="prompts (label -> template), models, params.")
    scorers: list[dict[str, Any]]
    cells: list[Cell]
    baseline: str | None = Field(default=None, description="Key of the baseline cell.")
    status: ExperimentStatus = "running"
    error: str | None = None
    created_by: str
    created_at: datetime
    finished_at: datetime | None = None


def _to_experiment(row: RowMapping) -> Experiment:
    return Experiment(**{k: row[k] for k in Experiment.model_fields})


class ExperimentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        project_id: str,
        *,
        name: str,
        dataset_ref: str,
        dataset_version: str | None,
        axes: dict[str, Any],
        scorers: list[dict[str, Any]],
        cells: list[Cell],
        baseline: str | None,
        created_by: str,
    ) -> Experiment:
        experiment = Experiment(
            id=new_id("exp"),
            project_id=project_id,
            name=name,
            dataset_ref=dataset_ref,
            dataset_version=dataset_version,
            axes=axes,
            scorers=scorers,
            cells=cells,
            baseline=baseline,
            created_by=created_by,
            created_at=utcnow(),
        )
        row = experiment.model_dump(mode="json") | {"created_at": experiment.created_at}
        with self.db.begin() as c:
            c.execute(experiments.insert().values(**row))
        return experiment

    def set_cells(self, project_id: str, experiment_id: str, cells: list[Cell]) -> Experiment:
        return self._update(
            project_id, experiment_id, {"cells": [c.model_dump(mode="json") for c in cells]}
        )

    def finish(
        self,
        project_id: str,
        experiment_id: str,
        *,
        status: ExperimentStatus,
        error: str | None = None,
    ) -> Experiment:
        values = {"status": status, "error": error, "finished_at": utcnow()}
        return self._update(project_id, experiment_id, values)

    def reopen(self, project_id: str, experiment_id: str) -> Experiment:
        values = {"status": "running", "error": None, "finished_at": None}
        return self._update(project_id, experiment_id, values)

    def _update(self, project_id: str, experiment_id: str, values: dict[str, Any]) -> Experiment:
        with self.db.begin() as c:
            c.execute(
                update(experiments)
                .where(experiments.c.project_id == project_id, experiments.c.id == experiment_id)
                .values(**values)
            )
        return self.get(project_id, experiment_id)

    def get(self, project_id: str, experiment_id: str) -> Experiment:
        query = select(experiments).where(
            experiments.c.project_id == project_id, experiments.c.id == experiment_id
        )
        with self.db.connect() as c:
            row = c.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"experiment {experiment_id!r} not found")
        return _to_experiment(row)

    def list(
        self, project_id: str, *, limit: int = 100, offset: int = 0
    ) -> builtins.list[Experiment]:
        query = (
            select(experiments)
            .where(experiments.c.project_id == project_id)
            .order_by(experiments.c.created_at.desc(), experiments.c.id)
            .limit(limit)
            .offset(offset)
        )
        with self.db.connect() as c:
            return [_to_experiment(r) for r in c.execute(query).mappings()]
