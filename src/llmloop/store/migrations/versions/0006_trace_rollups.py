"""Trace rollups, feedback keys and retention.

Hourly rollups of trace summaries (``trace_rollups``, see
:mod:`llmloop.store.trace_rollups`), backfilled from the stored traces; an index on
``trace_tags (project_id, trace_id)`` so pruning a trace's tags is an index lookup.

Revision ID: 0006_trace_rollups
Revises: 0005_prompts
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from llmloop.store import trace_rollups as rollups
from llmloop.store.schema import UtcDateTime

revision = "0006_trace_rollups"
down_revision = "0005_prompts"
branch_labels = None
depends_on = None

BACKFILL_CHUNK = 20_000


def upgrade() -> None:
    op.create_table(
        "trace_rollups",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("hour", UtcDateTime(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("latency_bucket", sa.Integer(), nullable=False),
        sa.Column("trace_count", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("cost_count", sa.Integer(), nullable=False),
        sa.Column("min_ms", sa.Float(), nullable=False),
        sa.Column("max_ms", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_trace_rollups_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(*rollups.KEY_COLUMNS, name="pk_trace_rollups"),
    )
    op.create_index("ix_trace_tags_project_trace", "trace_tags", ["project_id", "trace_id"])
    _backfill(op.get_bind())


def _backfill(conn: sa.engine.Connection) -> None:
    """Roll up every stored trace, project by project, in chunks (keyset pagination)."""
    traces = sa.table(
        "traces",
        *(sa.column(n) for n in ("project_id", "trace_id", "name", "model", "status",
                                 "duration_ms", "input_tokens", "output_tokens", "cost_usd")),
        sa.column("start_time", UtcDateTime()),
    )  # fmt: skip
    t = traces.c
    projects = conn.execute(sa.select(t.project_id).distinct()).scalars().all()
    for project_id in projects:
        after = ""
        while True:
            query = (
                sa.select(t.trace_id, t.start_time, t.name, t.model, t.status, t.duration_ms,
                          t.input_tokens, t.output_tokens, t.cost_usd)
                .where(t.project_id == project_id, t.trace_id > after)
                .order_by(t.trace_id)
                .limit(BACKFILL_CHUNK)
            )  # fmt: skip
            rows = conn.execute(query).all()
            if not rows:
                break
            rollups.apply(conn, project_id, rollups.deltas(rollups.Summary(*r[1:]) for r in rows))
            after = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_trace_tags_project_trace", table_name="trace_tags")
    op.drop_table("trace_rollups")
