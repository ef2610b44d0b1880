"""Trace rollups, feedback keys and retention.

Revision ID: 0006_trace_rollups
Revises: 0005_prompts
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0006_trace_rollups"
down_revision = "0005_prompts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # schema lands with the feature


def downgrade() -> None:
    pass
