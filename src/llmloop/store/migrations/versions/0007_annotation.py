"""Annotation queues and golden validation.

Revision ID: 0007_annotation
Revises: 0006_trace_rollups
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0007_annotation"
down_revision = "0006_trace_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # schema lands with the feature


def downgrade() -> None:
    pass
