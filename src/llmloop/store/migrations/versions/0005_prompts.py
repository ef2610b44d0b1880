"""Prompts and deployments.

Revision ID: 0005_prompts
Revises: 0004_evaluation
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from llmloop.store.schema import JsonType, UtcDateTime

revision = "0005_prompts"
down_revision = "0004_evaluation"
branch_labels = None
depends_on = None


def _project_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"], ["projects.id"], name=f"fk_{table}_project_id_projects", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        _project_fk("prompts"),
        sa.PrimaryKeyConstraint("id", name="pk_prompts"),
        sa.UniqueConstraint("project_id", "name", name="uq_prompts_project_id_name"),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("prompt_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("template", JsonType, nullable=False),
        sa.Column("variables", JsonType, nullable=False),
        sa.Column("params", JsonType, nullable=False),
        sa.Column("tools", JsonType, nullable=True),
        sa.Column("response_schema", JsonType, nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
            name="fk_prompt_versions_prompt_id_prompts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_versions"),
        sa.UniqueConstraint("prompt_id", "number", name="uq_prompt_versions_prompt_id_number"),
        sa.UniqueConstraint(
            "prompt_id", "content_hash", name="uq_prompt_versions_prompt_id_content_hash"
        ),
    )
    op.create_table(
        "prompt_labels",
        sa.Column("prompt_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
            name="fk_prompt_labels_prompt_id_prompts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["prompt_versions.id"], name="fk_prompt_labels_version_id"
        ),
        sa.PrimaryKeyConstraint("prompt_id", "name", name="pk_prompt_labels"),
    )
    op.create_index("ix_prompt_labels_version", "prompt_labels", ["version_id"])
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("routing", JsonType, nullable=False),
        sa.Column("policy", JsonType, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        _project_fk("deployments"),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
        sa.UniqueConstraint(
            "project_id",
            "name",
            "environment",
            name="uq_deployments_project_id_name_environment",
        ),
    )
    op.create_table(
        "deployment_versions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("deployment_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("prompt_version_id", sa.String(64), nullable=True),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("params", JsonType, nullable=False),
        sa.Column("guardrails", JsonType, nullable=False),
        sa.Column("fallbacks", JsonType, nullable=False),
        sa.Column("fallback_on_refusal", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name="fk_deployment_versions_deployment_id_deployments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_version_id"],
            ["prompt_versions.id"],
            name="fk_deployment_versions_prompt_version_id_prompt_versions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deployment_versions"),
        sa.UniqueConstraint(
            "deployment_id", "number", name="uq_deployment_versions_deployment_id_number"
        ),
    )
    op.create_table(
        "deployment_aliases",
        sa.Column("deployment_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name="fk_deployment_aliases_deployment_id_deployments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["deployment_versions.id"], name="fk_deployment_aliases_version_id"
        ),
        sa.PrimaryKeyConstraint("deployment_id", "name", name="pk_deployment_aliases"),
    )


def downgrade() -> None:
    op.drop_table("deployment_aliases")
    op.drop_table("deployment_versions")
    op.drop_table("deployments")
    op.drop_index("ix_prompt_labels_version", table_name="prompt_labels")
    op.drop_table("prompt_labels")
    op.drop_table("prompt_versions")
    op.drop_table("prompts")
