"""Stored label matrices per dataset version.

Revision ID: 0008_label_matrices
Revises: 0007_annotation
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from llmloop.store.schema import JsonType, UtcDateTime

revision = "0008_label_matrices"
down_revision = "0007_annotation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_matrices",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("dataset_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.String(80), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("classes", JsonType, nullable=False),
        sa.Column("functions", JsonType, nullable=False),
        sa.Column("gold_field", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("columns", sa.Integer(), nullable=False),
        sa.Column("failures", JsonType, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("votes", sa.LargeBinary(), nullable=True),
        sa.Column("record_ids", sa.LargeBinary(), nullable=True),
        sa.Column("gold", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_label_matrices_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name="fk_label_matrices_dataset_id_datasets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_label_matrices"),
        sa.UniqueConstraint(
            "dataset_id", "version_id", "name", name="uq_label_matrices_dataset_id_version_id_name"
        ),
    )
    op.create_index(
        "ix_label_matrices_project_dataset", "label_matrices", ["project_id", "dataset_id"]
    )
    op.create_table(
        "label_model_fits",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("matrix_id", sa.String(64), nullable=False),
        sa.Column("settings", JsonType, nullable=False),
        sa.Column("report", JsonType, nullable=False),
        sa.Column("probabilities", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["matrix_id"],
            ["label_matrices.id"],
            name="fk_label_model_fits_matrix_id_label_matrices",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_label_model_fits"),
    )
    op.create_index("ix_label_model_fits_matrix_id", "label_model_fits", ["matrix_id"])
    op.create_table(
        "label_simulations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("dataset_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.String(80), nullable=False),
        sa.Column("settings", JsonType, nullable=False),
        sa.Column("curves", JsonType, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_label_simulations_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name="fk_label_simulations_dataset_id_datasets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_label_simulations"),
    )
    op.create_index(
        "ix_label_simulations_project_dataset", "label_simulations", ["project_id", "dataset_id"]
    )


def downgrade() -> None:
    op.drop_table("label_simulations")
    op.drop_table("label_model_fits")
    op.drop_table("label_matrices")
