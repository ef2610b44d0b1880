"""Experiments and resumable evaluation runs.

Revision ID: 0009_experiments
Revises: 0008_label_matrices
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0009_experiments"
down_revision = "0008_label_matrices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # schema lands with the feature


def downgrade() -> None:
    pass
