"""Runs that end without an answer: a lease on running runs (so a dead process's runs are
found), feedback on runs no model answered, and runs listed by status.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Written by hand, with plain SQLAlchemy types, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_runs_status", ["status"])
    # Runs left running by an earlier version have no lease: the next look abandons them.
    op.execute("UPDATE runs SET lease_until = created_at WHERE status = 'running'")
    with op.batch_alter_table("feedback") as batch:
        batch.alter_column("model_id", existing_type=sa.String(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.alter_column("model_id", existing_type=sa.String(), nullable=False)
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_status")
        batch.drop_column("lease_until")
