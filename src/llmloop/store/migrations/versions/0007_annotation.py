"""Annotation queues and golden validation.

Revision ID: 0007_annotation
Revises: 0006_trace_rollups
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from llmloop.store.schema import JsonType, UtcDateTime

revision = "0007_annotation"
down_revision = "0006_trace_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotation_queues",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("label_schema", JsonType, nullable=False),
        sa.Column("required", sa.Integer(), nullable=False),
        sa.Column("source", JsonType, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_annotation_queues_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_queues"),
        sa.UniqueConstraint("project_id", "name", name="uq_annotation_queues_project_id_name"),
    )
    op.create_table(
        "annotation_items",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("queue_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("ref", JsonType, nullable=False),
        sa.Column("content", JsonType, nullable=False),
        sa.Column("hints", JsonType, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("final", JsonType, nullable=True),
        sa.Column("final_by", sa.String(200), nullable=True),
        sa.Column("final_at", UtcDateTime(), nullable=True),
        sa.Column("promoted_version", sa.String(80), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["annotation_queues.id"],
            name="fk_annotation_items_queue_id_annotation_queues",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_items"),
        sa.UniqueConstraint("queue_id", "position", name="uq_annotation_items_queue_id_position"),
    )
    op.create_index("ix_annotation_items_queue_status", "annotation_items", ["queue_id", "status"])
    op.create_table(
        "annotation_assignments",
        sa.Column("queue_id", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("annotator", sa.String(200), nullable=False),
        sa.Column("assigned_by", sa.String(200), nullable=False),
        sa.Column("assigned_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["annotation_items.id"],
            name="fk_annotation_assignments_item_id_annotation_items",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", "annotator", name="pk_annotation_assignments"),
    )
    op.create_index(
        "ix_annotation_assignments_queue_annotator",
        "annotation_assignments",
        ["queue_id", "annotator"],
    )
    op.create_table(
        "annotation_answers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("queue_id", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("annotator", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("value", JsonType, nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["annotation_items.id"],
            name="fk_annotation_answers_item_id_annotation_items",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_answers"),
        sa.UniqueConstraint("item_id", "annotator", name="uq_annotation_answers_item_id_annotator"),
    )
    op.create_index("ix_annotation_answers_queue", "annotation_answers", ["queue_id"])


def downgrade() -> None:
    op.drop_index("ix_annotation_answers_queue", table_name="annotation_answers")
    op.drop_table("annotation_answers")
    op.drop_index("ix_annotation_assignments_queue_annotator", table_name="annotation_assignments")
    op.drop_table("annotation_assignments")
    op.drop_index("ix_annotation_items_queue_status", table_name="annotation_items")
    op.drop_table("annotation_items")
    op.drop_table("annotation_queues")
