"""Lineage: ``run_examples``, the edge "run used remembered example", backfilled from the
examples every stored auction record lists.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Written by hand, with plain SQLAlchemy types, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PAGE = 1000


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    edges = op.create_table(
        "run_examples",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("example_id", sa.String(), nullable=False),
        sa.Column("source_run_id", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("similarity", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_run_examples_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "position", name="pk_run_examples"),
    )
    op.create_index("ix_run_examples_tenant_example_id", "run_examples", ["tenant", "example_id"])
    op.create_index(
        "ix_run_examples_tenant_source_run_id", "run_examples", ["tenant", "source_run_id"]
    )
    _backfill(edges)


def _backfill(edges: sa.Table) -> None:
    """Edges for the runs stored before this table, read from their auction records."""
    auctions = sa.table(
        "auctions", sa.column("run_id", sa.String()), sa.column("tenant", sa.String()),
        sa.column("record", _json()),
    )  # fmt: skip
    bind = op.get_bind()
    after = ""
    while True:
        page = bind.execute(
            sa.select(auctions.c.run_id, auctions.c.tenant, auctions.c.record)
            .where(auctions.c.run_id > after)
            .order_by(auctions.c.run_id)
            .limit(_PAGE)
        ).all()
        if not page:
            return
        rows = [edge for run_id, tenant, record in page for edge in _edges(run_id, tenant, record)]
        if rows:
            bind.execute(sa.insert(edges), rows)
        after = page[-1][0]


def _edges(run_id: str, tenant: str, record: Any) -> list[dict[str, Any]]:
    examples = record.get("examples") if isinstance(record, dict) else None
    return [
        {
            "run_id": run_id,
            "position": position,
            "tenant": tenant,
            "example_id": str(use["example_id"]),
            "source_run_id": use.get("run_id"),
            "source": str(use.get("source") or ""),
            "similarity": float(use.get("similarity") or 0.0),
        }
        for position, use in enumerate(examples or [])
        if isinstance(use, dict) and use.get("example_id")
    ]


def downgrade() -> None:
    op.drop_index("ix_run_examples_tenant_source_run_id", table_name="run_examples")
    op.drop_index("ix_run_examples_tenant_example_id", table_name="run_examples")
    op.drop_table("run_examples")
