"""The service's rate limits, counted in the database so every worker process shares them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Written by hand, with plain SQLAlchemy types, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "window", name="pk_rate_windows"),
    )


def downgrade() -> None:
    op.drop_table("rate_windows")
