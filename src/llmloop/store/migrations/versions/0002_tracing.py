"""Tracing: spans, trace summaries, trace tags, scores on traces and spans.

Revision ID: 0002_tracing
Revises: 0001_foundation
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from llmloop.store.schema import JsonType, UtcDateTime

revision = "0002_tracing"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def _project_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"], ["projects.id"], name=f"fk_{table}_project_id_projects", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "spans",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("parent_span_id", sa.String(16), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("start_time", UtcDateTime(), nullable=False),
        sa.Column("end_time", UtcDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("service", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("session_id", sa.Text(), nullable=True),
        sa.Column("tags", JsonType, nullable=False),
        sa.Column("inputs", sa.Text(), nullable=True),
        sa.Column("outputs", sa.Text(), nullable=True),
        sa.Column("attributes", JsonType, nullable=False),
        sa.Column("events", JsonType, nullable=False),
        sa.Column("flags", JsonType, nullable=False),
        _project_fk("spans"),
        sa.PrimaryKeyConstraint("project_id", "trace_id", "span_id", name="pk_spans"),
    )
    op.create_index("ix_spans_project_start", "spans", ["project_id", "start_time"])
    op.create_table(
        "traces",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("start_time", UtcDateTime(), nullable=False),
        sa.Column("end_time", UtcDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("service", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("session_id", sa.Text(), nullable=True),
        sa.Column("span_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        _project_fk("traces"),
        sa.PrimaryKeyConstraint("project_id", "trace_id", name="pk_traces"),
    )
    op.create_index("ix_traces_project_start", "traces", ["project_id", "start_time", "trace_id"])
    for column in ("name", "model", "user", "session"):
        field = column if column in ("name", "model") else f"{column}_id"
        op.create_index(
            f"ix_traces_project_{column}", "traces", ["project_id", field, "start_time"]
        )
    op.create_table(
        "trace_tags",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        _project_fk("trace_tags"),
        sa.PrimaryKeyConstraint("project_id", "tag", "trace_id", name="pk_trace_tags"),
    )
    op.create_table(
        "trace_scores",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("target_kind", sa.String(8), nullable=False),
        sa.Column("target_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("value", JsonType, nullable=False),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("scorer_version", sa.String(200), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        _project_fk("trace_scores"),
        sa.PrimaryKeyConstraint("id", name="pk_trace_scores"),
    )
    op.create_index("ix_trace_scores_trace", "trace_scores", ["project_id", "trace_id"])


def downgrade() -> None:
    op.drop_table("trace_scores")
    op.drop_table("trace_tags")
    op.drop_table("traces")
    op.drop_table("spans")
