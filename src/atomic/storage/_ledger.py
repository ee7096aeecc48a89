"""Rows for the exchange's records: auctions, counted outcomes, and learner posteriors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from atomic.storage._records import OutcomeRecord, RunRecord, utcnow
from atomic.storage._tables import AuctionRow, LearnerStateRow, OutcomeRow, RunExampleRow

__all__ = [
    "LearnerMerge",
    "LearnerStates",
    "auction_row",
    "example_rows",
    "learner_rows",
    "outcome_record",
    "outcome_row",
    "upsert",
]

LearnerStates = Sequence[tuple[tuple[str, str, str], dict[str, Any]]]
"""((tenant, task, model id), state) pairs, as the learner hands them over."""

StateKey = tuple[str, str, str]


@dataclass(frozen=True)
class LearnerMerge:
    """What a transaction learned, to apply to the stored learner states under a row lock.

    ``merge`` receives the stored state of each of ``keys`` that has one (read inside the
    transaction, after the lock) and returns the new states to write. It must not await:
    it runs between the read and the write of one transaction.
    """

    keys: Sequence[StateKey]
    merge: Callable[[dict[StateKey, dict[str, Any]]], dict[StateKey, dict[str, Any]]]


def auction_row(run: RunRecord, record: dict[str, Any]) -> AuctionRow:
    return AuctionRow(
        run_id=run.id,
        tenant=run.tenant,
        task_name=run.task_name,
        record=to_jsonable_python(record),
        created_at=run.created_at,
    )


def example_rows(run: RunRecord, record: dict[str, Any]) -> list[RunExampleRow]:
    """The lineage edges of a run: the remembered examples its auction record says were put
    in the prompt, in their order."""
    return [
        RunExampleRow(
            run_id=run.id,
            position=position,
            tenant=run.tenant,
            example_id=str(use["example_id"]),
            source_run_id=use.get("run_id"),
            source=str(use.get("source") or ""),
            similarity=float(use.get("similarity") or 0.0),
        )
        for position, use in enumerate(_examples(record))
    ]


def _examples(record: dict[str, Any]) -> list[dict[str, Any]]:
    examples = record.get("examples") or []
    return [to_jsonable_python(use) for use in examples if use]


def outcome_row(outcome: OutcomeRecord) -> OutcomeRow:
    return OutcomeRow(
        run_id=outcome.run_id,
        tenant=outcome.tenant,
        task_name=outcome.task_name,
        model_id=outcome.model_id,
        reward=outcome.reward,
        source=outcome.source,
        created_at=outcome.created_at,
    )


def outcome_record(row: OutcomeRow) -> OutcomeRecord:
    return OutcomeRecord(
        run_id=row.run_id,
        tenant=row.tenant,
        task_name=row.task_name,
        model_id=row.model_id,
        reward=row.reward,
        source=row.source,
        created_at=row.created_at,
    )


def learner_rows(states: LearnerStates) -> list[LearnerStateRow]:
    now = utcnow()
    return [
        LearnerStateRow(
            tenant=tenant,
            task_name=task,
            model_id=model,
            state=to_jsonable_python(state),
            updated_at=now,
        )
        for (tenant, task, model), state in states
    ]


def upsert(dialect: str, table: Table, rows: Sequence[Any], keys: Sequence[str]) -> Insert:
    """One INSERT … ON CONFLICT DO UPDATE for ORM ``rows`` (SQLite and PostgreSQL alike):
    a single statement, where a session merge would read each row first."""
    values = [{column.name: getattr(row, column.key) for column in table.columns} for row in rows]
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = insert.values(values)
    changing = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
    return statement.on_conflict_do_update(index_elements=list(keys), set_=changing)
