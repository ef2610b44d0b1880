"""Evaluation: runs and their per-record results.

Revision ID: 0004_evaluation
Revises: 0003_datasets
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from llmloop.store.schema import JsonType, UtcDateTime

revision = "0004_evaluation"
down_revision = "0003_datasets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("dataset_ref", sa.String(500), nullable=True),
        sa.Column("scorers", JsonType, nullable=False),
        sa.Column("params", JsonType, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n_records", sa.Integer(), nullable=False),
        sa.Column("n_errors", sa.Integer(), nullable=False),
        sa.Column("aggregates", JsonType, nullable=False),
        sa.Column("details", JsonType, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_eval_runs_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_eval_runs"),
    )
    op.create_index("ix_eval_runs_project_time", "eval_runs", ["project_id", "created_at"])
    op.create_table(
        "eval_results",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(200), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("inputs", JsonType, nullable=False),
        sa.Column("outputs", JsonType, nullable=True),
        sa.Column("expectations", JsonType, nullable=True),
        sa.Column("record_metadata", JsonType, nullable=False),
        sa.Column("scores", JsonType, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["eval_runs.id"],
            name="fk_eval_results_run_id_eval_runs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_eval_results_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "position", name="pk_eval_results"),
    )
    op.create_index("ix_eval_results_record", "eval_results", ["run_id", "record_id"])


def downgrade() -> None:
    op.drop_table("eval_results")
    op.drop_table("eval_runs")
