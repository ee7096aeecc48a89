"""The lineage graph's recursive queries, in SQLAlchemy Core for SQLite and PostgreSQL alike.

Both walk ``run_examples`` (run → example → the run the example was learned from) with a
recursive CTE, bounded by depth: ``upstream`` from a run back to the runs that taught it,
``downstream`` from an example forward to every run it influenced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Select, Table, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from atomic.storage._tables import (
    AttemptRow,
    AuctionRow,
    ClassifierRow,
    FeedbackRow,
    MemoryRow,
    RunExampleRow,
    RunRow,
)

__all__ = [
    "attempts_of",
    "auctions_of",
    "classifiers_of",
    "downstream",
    "downstream_query",
    "edges_of",
    "feedback_of",
    "memory_of",
    "runs_of",
    "sources_of",
    "taught_any",
    "upstream",
    "upstream_query",
]

_edges = cast(Table, RunExampleRow.__table__)
_runs = cast(Table, RunRow.__table__)


def upstream_query(tenant: str, run_id: str, max_depth: int) -> Select[Any]:
    """(run id, depth): the run, then every run whose example it used, recursively."""
    # Depths are SQL literals, not bound parameters: PostgreSQL types a recursive CTE's
    # columns from its first term, and a bound integer may come out another width.
    walk = (
        select(_runs.c.id.label("run_id"), literal_column("0").label("depth"))
        .where(_runs.c.id == run_id, _runs.c.tenant == tenant)
        .cte("upstream", recursive=True)
    )
    step = (
        select(_edges.c.source_run_id, walk.c.depth + literal_column("1"))
        .join(walk, _edges.c.run_id == walk.c.run_id)
        .where(
            _edges.c.tenant == tenant,
            _edges.c.source_run_id.is_not(None),
            walk.c.depth < max_depth,
        )
    )
    # UNION, not UNION ALL: a run reached twice at one depth is walked once.
    walk = walk.union(step)
    return select(walk.c.run_id, func.min(walk.c.depth)).group_by(walk.c.run_id)


def downstream_query(tenant: str, example_id: str, max_depth: int) -> Select[Any]:
    """(run id, depth, example, similarity): every run that used the example (depth 1),
    then every run that used an example learned from one of those, recursively."""
    walk = (
        select(
            _edges.c.run_id,
            literal_column("1").label("depth"),
            _edges.c.example_id,
            _edges.c.similarity,
        )
        .where(_edges.c.tenant == tenant, _edges.c.example_id == example_id)
        .cte("downstream", recursive=True)
    )
    step = (
        select(
            _edges.c.run_id,
            walk.c.depth + literal_column("1"),
            _edges.c.example_id,
            _edges.c.similarity,
        )
        .join(walk, _edges.c.source_run_id == walk.c.run_id)
        .where(_edges.c.tenant == tenant, walk.c.depth < max_depth)
    )
    walk = walk.union(step)
    return select(walk.c.run_id, walk.c.depth, walk.c.example_id, walk.c.similarity).order_by(
        walk.c.depth, walk.c.run_id
    )


async def upstream(
    session: AsyncSession, tenant: str, run_id: str, max_depth: int
) -> dict[str, int]:
    rows = (await session.execute(upstream_query(tenant, run_id, max_depth))).all()
    return {str(r[0]): int(r[1]) for r in rows}


async def downstream(
    session: AsyncSession, tenant: str, example_id: str, max_depth: int
) -> list[tuple[str, int, str, float]]:
    rows = (await session.execute(downstream_query(tenant, example_id, max_depth))).all()
    return [(str(r[0]), int(r[1]), str(r[2]), float(r[3])) for r in rows]


async def runs_of(session: AsyncSession, tenant: str, run_ids: Sequence[str]) -> list[RunRow]:
    statement = select(RunRow).where(RunRow.tenant == tenant, RunRow.id.in_(list(run_ids)))
    return await _rows(session, statement)


async def edges_of(
    session: AsyncSession, tenant: str, run_ids: Sequence[str]
) -> list[RunExampleRow]:
    statement = (
        select(RunExampleRow)
        .where(RunExampleRow.tenant == tenant, RunExampleRow.run_id.in_(list(run_ids)))
        .order_by(RunExampleRow.run_id, RunExampleRow.position)
    )
    return await _rows(session, statement)


async def auctions_of(
    session: AsyncSession, tenant: str, run_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    statement = select(AuctionRow.run_id, AuctionRow.record).where(
        AuctionRow.tenant == tenant, AuctionRow.run_id.in_(list(run_ids))
    )
    return {str(r[0]): r[1] for r in (await session.execute(statement)).all()}


async def attempts_of(session: AsyncSession, run_ids: Sequence[str]) -> list[AttemptRow]:
    """The attempts of runs already known to be the tenant's."""
    statement = (
        select(AttemptRow)
        .where(AttemptRow.run_id.in_(list(run_ids)))
        .order_by(AttemptRow.run_id, AttemptRow.index)
    )
    return await _rows(session, statement)


async def feedback_of(
    session: AsyncSession, tenant: str, run_ids: Sequence[str]
) -> list[FeedbackRow]:
    statement = (
        select(FeedbackRow)
        .where(FeedbackRow.tenant == tenant, FeedbackRow.run_id.in_(list(run_ids)))
        .order_by(FeedbackRow.created_at, FeedbackRow.id)
    )
    return await _rows(session, statement)


async def memory_of(
    session: AsyncSession, tenant: str, example_ids: Sequence[str]
) -> dict[str, tuple[str | None, str | None]]:
    """Example id → (run id, feedback id) of the examples in memory now."""
    statement = select(MemoryRow.id, MemoryRow.run_id, MemoryRow.feedback_id).where(
        MemoryRow.tenant == tenant, MemoryRow.id.in_(list(example_ids))
    )
    return {str(r[0]): (r[1], r[2]) for r in (await session.execute(statement)).all()}


async def classifiers_of(
    session: AsyncSession, tenant: str, task_names: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """Task → (version, trained_on) of its current classifier."""
    statement = select(ClassifierRow.task_name, ClassifierRow.version, ClassifierRow.trained_on)
    statement = statement.where(
        ClassifierRow.tenant == tenant, ClassifierRow.task_name.in_(list(task_names))
    )
    rows = (await session.execute(statement)).all()
    return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}


async def sources_of(session: AsyncSession, tenant: str, example_id: str) -> list[str]:
    """The runs an example was learned from, as the runs that used it recorded."""
    statement = (
        select(RunExampleRow.source_run_id)
        .where(
            RunExampleRow.tenant == tenant,
            RunExampleRow.example_id == example_id,
            RunExampleRow.source_run_id.is_not(None),
        )
        .distinct()
        .order_by(RunExampleRow.source_run_id)
    )
    return [str(r) for r in (await session.execute(statement)).scalars().all()]


async def taught_any(session: AsyncSession, tenant: str, run_ids: Sequence[str]) -> bool:
    """Whether any run used an example learned from one of ``run_ids``."""
    if not run_ids:
        return False
    statement = (
        select(RunExampleRow.run_id)
        .where(RunExampleRow.tenant == tenant, RunExampleRow.source_run_id.in_(list(run_ids)))
        .limit(1)
    )
    return (await session.execute(statement)).first() is not None


async def _rows(session: AsyncSession, statement: Select[Any]) -> list[Any]:
    return list((await session.execute(statement)).scalars().all())
