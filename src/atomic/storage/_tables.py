"""Atomic's tables, declared once for SQLite and PostgreSQL alike.

The migration in ``migrations/versions`` creates the same schema by hand; a test checks that the
two agree, so a change here needs a new migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AdaptationStateRow",
    "ApiKeyRow",
    "AttemptRow",
    "AuctionRow",
    "Base",
    "ClassifierRow",
    "EgressEntryRow",
    "FeedbackRow",
    "IdempotencyRow",
    "LearnerStateRow",
    "MemoryRow",
    "OutcomeRow",
    "RateWindowRow",
    "RunExampleRow",
    "RunRow",
    "UTCDateTime",
    "json_type",
]

# Stable constraint names, so later migrations can alter them on every back end (SQLite's batch
# mode needs names to find constraints again).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def json_type() -> sa.types.TypeEngine[Any]:
    """JSON everywhere, JSONB on PostgreSQL; Python ``None`` is stored as SQL ``NULL``."""
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware datetime that always comes back in UTC.

    SQLite has no timezone type, so values are normalised to UTC before they are written (which
    also keeps its text timestamps sortable) and marked as UTC when read. A naive datetime is
    taken to be UTC already.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class RunRow(Base):
    """One task call as the caller saw it (mirrors :class:`atomic.storage.RunRecord`)."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(), nullable=False)
    task_name: Mapped[str] = mapped_column(sa.String(), nullable=False)
    task_version: Mapped[str] = mapped_column(sa.String(), nullable=False)
    input: Mapped[Any] = mapped_column(json_type(), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(), nullable=False)
    model_id: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    output: Mapped[Any] = mapped_column(json_type(), nullable=True)
    error_code: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    error: Mapped[Any] = mapped_column(json_type(), nullable=True)
    input_tokens: Mapped[int] = mapped_column(sa.Integer(), nullable=False)
    output_tokens: Mapped[int] = mapped_column(sa.Integer(), nullable=False)
    cost_usd: Mapped[float] = mapped_column(sa.Double(), nullable=False)
    latency_ms: Mapped[float] = mapped_column(sa.Double(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """While running: when the run counts as abandoned unless its process extends the lease."""

    attempts: Mapped[list[AttemptRow]] = relationship(
        back_populates="run",
        order_by="AttemptRow.index",
        lazy="raise",
        passive_deletes=True,
    )

    __table_args__ = (
        # `atomic runs` lists a tenant's newest runs first; the task filter narrows it.
        sa.Index("ix_runs_tenant_created_at", "tenant", "created_at"),
        sa.Index("ix_runs_task_name", "task_name"),
        # Finding the runs whose process died looks only at running ones.
        sa.Index("ix_runs_status", "status"),
    )


class AttemptRow(Base):
    """One model call inside a run (mirrors :class:`atomic.storage.AttemptRecord`)."""

    __tablename__ = "attempts"

    run_id: Mapped[str] = mapped_column(
        sa.String(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(sa.Integer(), primary_key=True, autoincrement=False)
    model_id: Mapped[str] = mapped_column(sa.String(), nullable=False)
    strategy: Mapped[str] = mapped_column(sa.String(), nullable=False)
    prompt: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    prompt_sha256: Mapped[str] = mapped_column(sa.String(), nullable=False)
    raw_output: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    parsed_output: Mapped[Any] = mapped_column(json_type(), nullable=True)
    validation_errors: Mapped[Any] = mapped_column(json_type(), nullable=False)
    input_tokens: Mapped[int] = mapped_column(sa.Integer(), nullable=False)
    output_tokens: Mapped[int] = mapped_column(sa.Integer(), nullable=False)
    cost_usd: Mapped[float] = mapped_column(sa.Double(), nullable=False)
    price: Mapped[Any] = mapped_column(json_type(), nullable=False)
    latency_ms: Mapped[float] = mapped_column(sa.Double(), nullable=False)
    error_code: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    error_message: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    run: Mapped[RunRow] = relationship(back_populates="attempts", lazy="raise")


class AuctionRow(Base):
    """The auction behind a run: bids, exclusions, winner and reasons, as JSON."""

    __tablename__ = "auctions"

    run_id: Mapped[str] = mapped_column(
        sa.String(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    tenant: Mapped[str] = mapped_column(sa.String(), nullable=False)
    task_name: Mapped[str] = mapped_column(sa.String(), nullable=False)
    record: Mapped[Any] = mapped_column(json_type(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class RunExampleRow(Base):
    """An edge of the lineage graph: a remembered example a run put in its prompt.

    Written with the run's auction record, from its ``examples``. ``source_run_id`` is the
    run the example was learned from when it was used (an example id keeps its id when a
    newer label replaces it), so the graph stays true after memory changes.
    """

    __tablename__ = "run_examples"

    run_id: Mapped[str] = mapped_column(
        sa.String(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(sa.Integer(), primary_key=True, autoincrement=False)
    """The example's place among the run's demonstrations (0: least similar, first)."""
    tenant: Mapped[str] = mapped_column(sa.String(), nullable=False)
    example_id: Mapped[str] = mapped_column(sa.String(), nullable=False)
    source_run_id: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    source: Mapped[str] = mapped_column(sa.String(), nullable=False)
    similarity: Mapped[float] = mapped_column(sa.Double(), nullable=False)

    __table_args__ = (
        # `atomic lineage --example` starts from an example, then walks runs made from runs.
        sa.Index("ix_run_examples_tenant_example_id", "tenant", "example_id"),
        sa.Index("ix_run_examples_tenant_source_run_id", "tenant", "source_run_id"),
    )


class OutcomeRow(Base):
    """The outcome the learner counted for a run (the latest word on it)."""

    __tablename__ = "outcomes"

    run_id: Mapped[str] = mapped_column(
        sa.String(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    tenant: Mapped[str] = mapped_column(sa.String(), nullable=False)
    task_name: Mapped[str] = mapped_column(sa.String(), nullable=False)
    model_id: Mapped[str] = mapped_column(sa.String(), nullable=False)
    reward: Mapped[float] = mapped_column(sa.Double(), nullable=False)
    source: Mapped[str] = mapped_column(sa.String(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class LearnerStateRow(Base):
    """One posterior of the exchange's learner, per (tenant, task, model)."""

    __tablename__ = "learner_states"

    tenant: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    task_name: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    model_id: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    state: Mapped[Any] = mapped_column(json_type(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class FeedbackRow(Base):
    """Feedback on a run (mirrors :class:`atomic.storage.FeedbackRecord`)."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(), nullable=False)
    run_id: Mapped[str] = mapped_column(
        sa.String(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    task_name: Mapped[str] = mapped_column(sa.String(), nullable=False)
    model_id: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    kind: Mapped[str] = mapped_column(sa.String(), nullable=False)
    output: Mapped[Any] = mapped_column(json_type(), nullable=True)
    score: Mapped[float | None] = mapped_column(sa.Double(), nullable=True)
    reward: Mapped[float] = mapped_column(sa.Double(), nullable=False)
    source: Mapped[str] = mapped_column(sa.String(), nullable=False)
    comment: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    superseded_by: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (sa.Index("ix_feedback_tenant_run_id", "tenant", "run_id"),)


class MemoryRow(Base):
    """A verified example in a task's memory (mirrors :class:`atomic.storage.MemoryRecord`)."""

    __tablename__ = "memory_examples"

    id: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(), nullable=False)
    task_name: Mapped[str] = mapped_column(sa.String(), nullable=False)
    input_key: Mapped[str] = mapped_column(sa.String(), nullable=False)
    input: Mapped[Any] = mapped_column(json_type(), nullable=False)
    text: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    output: Mapped[Any] = mapped_column(json_type(), nullable=True)
    source: Mapped[str] = mapped_column(sa.String(), nullable=False)
    run_id: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    feedback_id: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        # One example per near-identical input: a newer, trusted label replaces the old one.
        sa.UniqueConstraint("tenant", "task_name", "input_key"),
    )


class AdaptationStateRow(Base):
    """A task's adaptation switches and counters, per tenant."""

    __tablename__ = "adaptation_states"

    tenant: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    task_name: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    frozen: Mapped[bool] = mapped_column(sa.Boolean(), nullable=False)
    state: Mapped[Any] = mapped_column(json_type(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ClassifierRow(Base):
    """A label task's trained classifier, per tenant (mirrors
    :class:`atomic.storage.ClassifierRecord`): loaded at start-up instead of retrained."""

    __tablename__ = "classifiers"

    tenant: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    task_name: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer(), nullable=False)
    trained_on: Mapped[int] = mapped_column(sa.Integer(), nullable=False)
    blob: Mapped[bytes] = mapped_column(sa.LargeBinary(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ApiKeyRow(Base):
    """An API key of the service: only the SHA-256 of its secret is kept, bound to a tenant."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(), nullable=False)
    name: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    prefix: Mapped[str] = mapped_column(sa.String(), nullable=False)
    """The first characters of the secret, so a listed key can be recognised."""
    secret_sha256: Mapped[str] = mapped_column(sa.String(), nullable=False, unique=True)
    admin: Mapped[bool] = mapped_column(sa.Boolean(), nullable=False)
    budget_usd: Mapped[float | None] = mapped_column(sa.Double(), nullable=True)
    spent_usd: Mapped[float] = mapped_column(sa.Double(), nullable=False)
    rate_per_minute: Mapped[int | None] = mapped_column(sa.Integer(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (sa.Index("ix_api_keys_tenant", "tenant"),)


class RateWindowRow(Base):
    """Requests one API key made in one minute (``window``: minutes since the Unix epoch),
    counted here so that every worker process of the service shares the key's rate limit."""

    __tablename__ = "rate_windows"

    key_id: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    window: Mapped[int] = mapped_column(sa.BigInteger(), primary_key=True)
    requests: Mapped[int] = mapped_column(sa.Integer(), nullable=False)


class IdempotencyRow(Base):
    """The first response to a POST with an ``Idempotency-Key``, replayed to its repeats."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    """Whose key it is: the hash of the caller's API key (or ``-`` without keys)."""
    key: Mapped[str] = mapped_column(sa.String(), primary_key=True)
    method: Mapped[str] = mapped_column(sa.String(), nullable=False)
    path: Mapped[str] = mapped_column(sa.String(), nullable=False)
    request_sha256: Mapped[str] = mapped_column(sa.String(), nullable=False)
    status_code: Mapped[int | None] = mapped_column(sa.Integer(), nullable=True)
    """None while the first request is still being served."""
    headers: Mapped[Any] = mapped_column(json_type(), nullable=True)
    body: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EgressEntryRow(Base):
    """One payload of task data sent to a model that is not ``local``, written before it left.

    Append-only and hash-chained: ``entry_hash`` is the SHA-256 of the entry's other fields,
    ``prev_hash`` the previous entry's (see :mod:`atomic.audit`). No foreign key to ``runs``:
    the record of what left must outlive the run it was for.
    """

    __tablename__ = "egress_ledger"

    seq: Mapped[int] = mapped_column(sa.BigInteger(), primary_key=True, autoincrement=False)
    """The entry's place in the chain, from 1, assigned under the chain's lock."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    tenant: Mapped[str] = mapped_column(sa.String(), nullable=False)
    run_id: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    task_name: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    model_id: Mapped[str] = mapped_column(sa.String(), nullable=False)
    endpoint_host: Mapped[str] = mapped_column(sa.String(), nullable=False)
    residency: Mapped[str] = mapped_column(sa.String(), nullable=False)
    region: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    policy_version: Mapped[str | None] = mapped_column(sa.String(), nullable=True)
    rule: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    byte_count: Mapped[int] = mapped_column(sa.BigInteger(), nullable=False)
    payload_sha256: Mapped[str] = mapped_column(sa.String(), nullable=False)
    fields_sent: Mapped[Any] = mapped_column(json_type(), nullable=False)
    fields_redacted: Mapped[Any] = mapped_column(json_type(), nullable=False)
    fields_withheld: Mapped[Any] = mapped_column(json_type(), nullable=False)
    prev_hash: Mapped[str] = mapped_column(sa.String(), nullable=False)
    entry_hash: Mapped[str] = mapped_column(sa.String(), nullable=False, unique=True)

    __table_args__ = (
        sa.Index("ix_egress_ledger_tenant_seq", "tenant", "seq"),
        sa.Index("ix_egress_ledger_run_id", "run_id"),
    )
