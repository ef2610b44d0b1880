"""Stored label matrices per dataset version.

Revision ID: 0008_label_matrices
Revises: 0007_annotation
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0008_label_matrices"
down_revision = "0007_annotation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # schema lands with the feature


def downgrade() -> None:
    pass
