"""Datasets: datasets, content-addressed versions, their records, aliases.

Revision ID: 0003_datasets
Revises: 0002_tracing
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from llmloop.store.schema import JsonType, UtcDateTime

revision = "0003_datasets"
down_revision = "0002_tracing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_datasets_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
        sa.UniqueConstraint("project_id", "name", name="uq_datasets_project_id_name"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("dataset_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.String(80), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("schema", JsonType, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name="fk_dataset_versions_dataset_id_datasets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "id", name="pk_dataset_versions"),
        sa.UniqueConstraint("dataset_id", "number", name="uq_dataset_versions_dataset_id_number"),
    )
    op.create_table(
        "dataset_records",
        sa.Column("dataset_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.String(80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(200), nullable=False),
        sa.Column("inputs", JsonType, nullable=False),
        sa.Column("outputs", JsonType, nullable=True),
        sa.Column("expectations", JsonType, nullable=True),
        sa.Column("metadata", JsonType, nullable=False),
        sa.Column("source", JsonType, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id", "version_id"],
            ["dataset_versions.dataset_id", "dataset_versions.id"],
            name="fk_dataset_records_version",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "version_id", "position", name="pk_dataset_records"),
        sa.UniqueConstraint(
            "dataset_id",
            "version_id",
            "record_id",
            name="uq_dataset_records_dataset_id_version_id_record_id",
        ),
    )
    op.create_table(
        "dataset_aliases",
        sa.Column("dataset_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version_id", sa.String(80), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name="fk_dataset_aliases_dataset_id_datasets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id", "version_id"],
            ["dataset_versions.dataset_id", "dataset_versions.id"],
            name="fk_dataset_aliases_version",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "name", name="pk_dataset_aliases"),
    )
    op.create_index("ix_dataset_aliases_version", "dataset_aliases", ["dataset_id", "version_id"])


def downgrade() -> None:
    op.drop_table("dataset_aliases")
    op.drop_table("dataset_records")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
