"""Evaluation runs and their per-record results: one aggregate, two tables."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, RowMapping

from llmloop.errors import NotFoundError
from llmloop.records import Frozen, Score, new_id, utcnow
from llmloop.store.database import Database
from llmloop.store.schema import JsonType, UtcDateTime, metadata

RunStatus = Literal["running", "finished", "failed", "interrupted"]
PAGE = 1000
RESUMABLE: tuple[RunStatus, ...] = ("running", "failed", "interrupted")

eval_runs = Table(
    "eval_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("target", String(500), nullable=False),
    Column("dataset_ref", String(500), nullable=True),
    Column("scorers", JsonType, nullable=False),
    Column("params", JsonType, nullable=False),
    Column("status", String(16), nullable=False),
    Column("n_records", Integer, nullable=False),
    Column("n_errors", Integer, nullable=False),
    Column("aggregates", JsonType, nullable=False),
    Column("details", JsonType, nullable=False),
    Column("error", Text, nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("dataset_version", String(64), nullable=True),
    Column("n_done", Integer, nullable=False, server_default=text("0")),
    Column("heartbeat_at", UtcDateTime, nullable=True),
    Column("owner", String(200), nullable=True),
    Column("experiment_id", String(64), nullable=True),
    Index("ix_eval_runs_project_time", "project_id", "created_at"),
    Index("ix_eval_runs_experiment", "experiment_id"),
)

eval_results = Table(
    "eval_results",
    metadata,
    Column("run_id", String(64), ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("record_id", String(200), nullable=False),
    Column("record_hash", String(64), nullable=False),
    Column("inputs", JsonType, nullable=False),
    Column("outputs", JsonType, nullable=True),
    Column("expectations", JsonType, nullable=True),
    Column("record_metadata", JsonType, nullable=False),
    Column("scores", JsonType, nullable=False),
    Column("error", Text, nullable=True),
    Column("latency_ms", Float, nullable=True),
    Column("cost_usd", Float, nullable=True),
    Column("prompt_tokens", Integer, nullable=True),
    Column("completion_tokens", Integer, nullable=True),
    Index("ix_eval_results_record", "run_id", "record_id"),
)


class Aggregate(Frozen):
    """A run-level metric with its bootstrap confidence interval (None when undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0


class EvalRun(Frozen):
    id: str
    project_id: str
    name: str
    target: str = Field(description="Model reference, or a description of the callable.")
    dataset_ref: str | None = None
    scorers: list[dict[str, Any]] = Field(description="Stored scorer specs (kind + config).")
    params: dict[str, Any] = Field(default_factory=dict)
    status: RunStatus = "running"
    n_records: int = 0
    n_errors: int = 0
    aggregates: dict[str, Aggregate] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    created_by: str
    created_at: datetime
    finished_at: datetime | None = None
    dataset_version: str | None = Field(
        default=None, description="The dataset version id the records came from, if any."
    )
    n_done: int = Field(default=0, description="Records scored and stored so far.")
    heartbeat_at: datetime | None = None
    owner: str | None = Field(default=None, description="host:pid of the process running it.")
    experiment_id: str | None = None


class EvalResult(Frozen):
    """One record of a run: the record, what the target answered, its scores."""

    run_id: str
    position: int
    record_id: str
    record_hash: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None = None
    expectations: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    scores: list[Score] = Field(default_factory=list)
    error: str | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def value(self, name: str) -> float | None:
        """The numeric value of the score called ``name``, if any."""
        for score in self.scores:
            if score.name == name:
                return score.numeric
        return None


def _to_run(row: RowMapping) -> EvalRun:
    return EvalRun(**{k: row[k] for k in EvalRun.model_fields})


def _to_result(row: RowMapping) -> EvalResult:
    data = {k: row[k] for k in EvalResult.model_fields if k != "metadata"}
    return EvalResult(**data, metadata=row["record_metadata"])


def _result_row(result: EvalResult, project_id: str) -> dict[str, Any]:
    row = result.model_dump(mode="json", exclude={"metadata"})
    row.update(record_metadata=result.metadata, project_id=project_id)
    return row


class EvaluationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create_run(
        self,
        project_id: str,
        *,
        name: str,
        target: str,
        scorers: list[dict[str, Any]],
        created_by: str,
        dataset_ref: str | None = None,
        params: dict[str, Any] | None = None,
        n_records: int = 0,
        dataset_version: str | None = None,
        owner: str | None = None,
        experiment_id: str | None = None,
    ) -> EvalRun:
        now = utcnow()
        run = EvalRun(
            id=new_id("run"),
            project_id=project_id,
            name=name,
            target=target,
            dataset_ref=dataset_ref,
            scorers=scorers,
            params=params or {},
            n_records=n_records,
            created_by=created_by,
            created_at=now,
            dataset_version=dataset_version,
            heartbeat_at=now,
            owner=owner,
            experiment_id=experiment_id,
        )
        with self.db.begin() as c:
            row = run.model_dump(mode="json") | {"created_at": now, "heartbeat_at": now}
            c.execute(eval_runs.insert().values(**row))
        return run

    def add_results(self, project_id: str, results: Sequence[EvalResult]) -> None:
        """Insert a batch of results of one run in one transaction, counting them as done
        and beating the run's heartbeat."""
        if results:
            with self.db.begin() as c:
                c.execute(eval_results.insert(), [_result_row(r, project_id) for r in results])
                c.execute(
                    update(eval_runs)
                    .where(
                        eval_runs.c.project_id == project_id, eval_runs.c.id == results[0].run_id
                    )
                    .values(n_done=eval_runs.c.n_done + len(results), heartbeat_at=utcnow())
                )

    def done_positions(self, project_id: str, run_id: str) -> dict[int, str]:
        """Position -> record content hash of every stored result of a run."""
        query = select(eval_results.c.position, eval_results.c.record_hash).where(
            eval_results.c.project_id == project_id, eval_results.c.run_id == run_id
        )
        with self.db.connect() as c:
            return {r.position: r.record_hash for r in c.execute(query)}

    def reopen(
        self, project_id: str, run_id: str, *, owner: str, expected: RunStatus
    ) -> EvalRun | None:
        """Take over a run for resuming; None when its status is no longer ``expected``
        (another process got there first)."""
        with self.db.begin() as c:
            done = select(func.count()).where(
                eval_results.c.project_id == project_id, eval_results.c.run_id == run_id
            )
            n_done = int(c.execute(done).scalar_one())
            taken = c.execute(
                update(eval_runs)
                .where(
                    eval_runs.c.project_id == project_id,
                    eval_runs.c.id == run_id,
                    eval_runs.c.status == expected,
                )
                .values(
                    status="running",
                    error=None,
                    finished_at=None,
                    owner=owner,
                    heartbeat_at=utcnow(),
                    n_done=n_done,
                )
            )
            return self._get(c, project_id, run_id) if taken.rowcount else None

    def finish_run(
        self,
        project_id: str,
        run_id: str,
        *,
        aggregates: dict[str, Aggregate],
        details: dict[str, Any],
        n_errors: int,
        n_records: int,
    ) -> EvalRun:
        values = {
            "status": "finished",
            "aggregates": {k: v.model_dump(mode="json") for k, v in aggregates.items()},
            "details": details,
            "n_errors": n_errors,
            "n_records": n_records,
            "finished_at": utcnow(),
        }
        return self._update(project_id, run_id, values)

    def fail_run(
        self, project_id: str, run_id: str, error: str, *, status: RunStatus = "failed"
    ) -> EvalRun:
        """Mark a run ``failed`` (or ``interrupted``); its stored results stay for resuming."""
        values = {"status": status, "error": error, "finished_at": utcnow()}
        return self._update(project_id, run_id, values)

    def set_experiment(self, project_id: str, run_id: str, experiment_id: str) -> None:
        with self.db.begin() as c:
            c.execute(
                update(eval_runs)
                .where(eval_runs.c.project_id == project_id, eval_runs.c.id == run_id)
                .values(experiment_id=experiment_id)
            )

    def _update(self, project_id: str, run_id: str, values: dict[str, Any]) -> EvalRun:
        with self.db.begin() as c:
            c.execute(
                update(eval_runs)
                .where(eval_runs.c.project_id == project_id, eval_runs.c.id == run_id)
                .values(**values)
            )
            return self._get(c, project_id, run_id)

    def _get(self, c: Connection, project_id: str, run_id: str) -> EvalRun:
        query = select(eval_runs).where(
            eval_runs.c.project_id == project_id, eval_runs.c.id == run_id
        )
        row = c.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"evaluation run {run_id!r} not found")
        return _to_run(row)

    def get(self, project_id: str, run_id: str) -> EvalRun:
        with self.db.connect() as c:
            return self._get(c, project_id, run_id)

    def list(self, project_id: str, *, limit: int = 100, offset: int = 0) -> list[EvalRun]:
        query = (
            select(eval_runs)
            .where(eval_runs.c.project_id == project_id)
            .order_by(eval_runs.c.created_at.desc(), eval_runs.c.id)
            .limit(limit)
            .offset(offset)
        )
        with self.db.connect() as c:
            return [_to_run(r) for r in c.execute(query).mappings()]

    def results(
        self, project_id: str, run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> builtins.list[EvalResult]:
        return builtins.list(self.iter_results(project_id, run_id, limit=limit, offset=offset))

    def iter_results(
        self, project_id: str, run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> Iterator[EvalResult]:
        self.get(project_id, run_id)  # 404 for another project's run
        query = (
            select(eval_results)
            .where(eval_results.c.project_id == project_id, eval_results.c.run_id == run_id)
            .order_by(eval_results.c.position)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.db.connect() as c:
            rows = c.execution_options(yield_per=PAGE).execute(query).mappings()
            for row in rows:  # streamed in pages (a server-side cursor on PostgreSQL)
                yield _to_result(row)

    def count_results(self, project_id: str, run_id: str) -> int:
        query = select(func.count()).where(
            eval_results.c.project_id == project_id, eval_results.c.run_id == run_id
        )
        with self.db.connect() as c:
            return int(c.execute(query).scalar_one())
