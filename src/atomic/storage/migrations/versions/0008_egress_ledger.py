"""The egress ledger: every payload of task data sent to a non-local model, hash-chained.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Written by hand, with plain SQLAlchemy types, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "egress_ledger",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("task_name", sa.String(), nullable=True),
        sa.Column("model_id", sa.String(), nullable=False),
        sa.Column("endpoint_host", sa.String(), nullable=False),
        sa.Column("residency", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("policy_version", sa.String(), nullable=True),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("byte_count", sa.BigInteger(), nullable=False),
        sa.Column("payload_sha256", sa.String(), nullable=False),
        sa.Column("fields_sent", _json(), nullable=False),
        sa.Column("fields_redacted", _json(), nullable=False),
        sa.Column("fields_withheld", _json(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("entry_hash", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_egress_ledger"),
        sa.UniqueConstraint("entry_hash", name="uq_egress_ledger_entry_hash"),
    )
    op.create_index("ix_egress_ledger_tenant_seq", "egress_ledger", ["tenant", "seq"])
    op.create_index("ix_egress_ledger_run_id", "egress_ledger", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_egress_ledger_run_id", table_name="egress_ledger")
    op.drop_index("ix_egress_ledger_tenant_seq", table_name="egress_ledger")
    op.drop_table("egress_ledger")
