"""Experiments and resumable evaluation runs.

Revision ID: 0009_experiments
Revises: 0008_label_matrices
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from llmloop.store.schema import JsonType, UtcDateTime

revision = "0009_experiments"
down_revision = "0008_label_matrices"
branch_labels = None
depends_on = None

_RUN_COLUMNS = ("dataset_version", "n_done", "heartbeat_at", "owner", "experiment_id")


def upgrade() -> None:
    with op.batch_alter_table("eval_runs") as batch:
        batch.add_column(sa.Column("dataset_version", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("n_done", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("heartbeat_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(200), nullable=True))
        batch.add_column(sa.Column("experiment_id", sa.String(64), nullable=True))
    op.create_index("ix_eval_runs_experiment", "eval_runs", ["experiment_id"])
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("dataset_ref", sa.String(500), nullable=False),
        sa.Column("dataset_version", sa.String(64), nullable=True),
        sa.Column("axes", JsonType, nullable=False),
        sa.Column("scorers", JsonType, nullable=False),
        sa.Column("cells", JsonType, nullable=False),
        sa.Column("baseline", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_experiments_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
    )
    op.create_index("ix_experiments_project_time", "experiments", ["project_id", "created_at"])


def downgrade() -> None:
    op.drop_table("experiments")
    op.drop_index("ix_eval_runs_experiment", table_name="eval_runs")
    with op.batch_alter_table("eval_runs") as batch:
        for name in _RUN_COLUMNS:
            batch.drop_column(name)
