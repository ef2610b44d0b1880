"""Prompts and deployments.

Revision ID: 0005_prompts
Revises: 0004_evaluation
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0005_prompts"
down_revision = "0004_evaluation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # schema lands with the feature


def downgrade() -> None:
    pass
