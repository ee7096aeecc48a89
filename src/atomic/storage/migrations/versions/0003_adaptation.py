"""Adaptation: feedback on runs, each task's memory of verified examples, and its switches.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Written by hand, with plain SQLAlchemy types, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("task_name", sa.String(), nullable=False),
        sa.Column("model_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("output", _json(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("reward", sa.Double(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("superseded_by", sa.String(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_feedback_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_tenant_run_id", "feedback", ["tenant", "run_id"])
    op.create_table(
        "memory_examples",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("task_name", sa.String(), nullable=False),
        sa.Column("input_key", sa.String(), nullable=False),
        sa.Column("input", _json(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("output", _json(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("feedback_id", sa.String(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_memory_examples"),
        sa.UniqueConstraint(
            "tenant",
            "task_name",
            "input_key",
            name="uq_memory_examples_tenant_task_name_input_key",
        ),
    )
    op.create_table(
        "adaptation_states",
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("task_name", sa.String(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("state", _json(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "task_name", name="pk_adaptation_states"),
    )


def downgrade() -> None:
    op.drop_table("adaptation_states")
    op.drop_table("memory_examples")
    op.drop_index("ix_feedback_tenant_run_id", table_name="feedback")
    op.drop_table("feedback")
