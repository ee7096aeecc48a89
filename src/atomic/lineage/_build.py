"""Building the lineage of a run and the influence of an example from the store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from atomic.errors import RunNotFoundError
from atomic.lineage import _queries as q
from atomic.lineage._graph import (
    ClassifierUse,
    ExampleNotFoundError,
    ExampleUsed,
    FeedbackNode,
    Influence,
    InfluencedRun,
    Lineage,
    RunNode,
)
from atomic.storage import Store
from atomic.storage._engine import storage_error
from atomic.storage._tables import AttemptRow, FeedbackRow, RunExampleRow, RunRow

__all__ = ["DEFAULT_DEPTH", "build_influence", "build_lineage"]

DEFAULT_DEPTH = 3
"""Hops of examples followed by default: enough to see a correction's second-hand effect."""

_LEARNED = "learned:"
_CLASSIFIER_VERSION = re.compile(r"classifier v(\d+)")


@asynccontextmanager
async def _reading(store: Store, action: str) -> AsyncIterator[AsyncSession]:
    try:
        async with AsyncSession(store.engine) as session:
            yield session
    except (SQLAlchemyError, OSError) as exc:
        raise storage_error(store.engine.url, action, exc) from exc


async def build_lineage(
    store: Store,
    run_id: str,
    *,
    tenant: str,
    max_depth: int = DEFAULT_DEPTH,
    cards: Mapping[str, dict[str, Any]] | None = None,
) -> Lineage:
    """The provenance of run ``run_id`` of ``tenant``, ``max_depth`` hops of examples deep;
    ``cards`` (model id → card) fills in the serving models' cards."""
    if max_depth < 0:
        raise ValueError(f"max_depth must be 0 or more, not {max_depth}")
    async with _reading(store, f"read the lineage of {run_id!r}") as s:
        depths = await q.upstream(s, tenant, run_id, max_depth)
        if run_id not in depths:
            raise RunNotFoundError(
                f"no run {run_id!r} in tenant {tenant!r}",
                hint="`atomic runs` lists the recent runs and their ids",
                context={"run_id": run_id, "tenant": tenant},
            )
        ids = sorted(depths)
        runs = await q.runs_of(s, tenant, ids)
        edges = await q.edges_of(s, tenant, ids)
        auctions = await q.auctions_of(s, tenant, ids)
        attempts = await q.attempts_of(s, [r.id for r in runs])
        feedback = await q.feedback_of(s, tenant, ids)
        memory = await q.memory_of(s, tenant, sorted({e.example_id for e in edges}))
        learned = sorted({r.task_name for r in runs if (r.model_id or "").startswith(_LEARNED)})
        classifiers = await q.classifiers_of(s, tenant, learned) if learned else {}
    at_edge = {i for i, d in depths.items() if d == max_depth}
    truncated = any(e.run_id in at_edge and e.source_run_id for e in edges)
    created = {r.id: r.created_at for r in runs}
    feedback_by_run: dict[str, list[FeedbackRow]] = {}
    for row in feedback:
        feedback_by_run.setdefault(row.run_id, []).append(row)
    nodes = [
        _run_node(
            run,
            depths[run.id],
            auctions.get(run.id),
            [a for a in attempts if a.run_id == run.id],
            [
                _example_used(e, memory, feedback_by_run, created[run.id])
                for e in edges
                if e.run_id == run.id
            ],
            feedback_by_run.get(run.id, []),
            classifiers,
            (cards or {}).get(run.model_id or ""),
        )
        for run in runs
    ]
    nodes.sort(key=lambda n: (n.depth, n.created_at, n.id))
    return Lineage(
        run_id=run_id, tenant=tenant, max_depth=max_depth, truncated=truncated, runs=nodes
    )


def _run_node(
    run: RunRow,
    depth: int,
    auction: dict[str, Any] | None,
    attempts: list[AttemptRow],
    examples: list[ExampleUsed],
    feedback: list[FeedbackRow],
    classifiers: Mapping[str, tuple[int, int]],
    card: dict[str, Any] | None,
) -> RunNode:
    auction = auction or {}
    serving = _serving_attempt(run, attempts)
    return RunNode(
        id=run.id,
        depth=depth,
        task_name=run.task_name,
        task_version=run.task_version,
        status=run.status,
        model_id=run.model_id,
        output=run.output,
        cost_usd=run.cost_usd,
        created_at=run.created_at,
        winner=auction.get("winner"),
        propensity=auction.get("propensity"),
        margin=auction.get("margin"),
        price=serving.price if serving is not None else None,
        strategy=serving.strategy if serving is not None else None,
        card=card,
        classifier=_classifier_use(run, auction, classifiers),
        examples=examples,
        feedback=[_feedback_node(f) for f in feedback],
    )


def _serving_attempt(run: RunRow, attempts: list[AttemptRow]) -> AttemptRow | None:
    """The attempt whose output the run returned (else the serving model's last one)."""
    own = [a for a in attempts if a.model_id == run.model_id]
    answered = [a for a in own if a.error_code is None and not a.validation_errors]
    chosen = answered or own
    return chosen[-1] if chosen else None


def _classifier_use(
    run: RunRow, auction: dict[str, Any], classifiers: Mapping[str, tuple[int, int]]
) -> ClassifierUse | None:
    model_id = run.model_id or ""
    if not model_id.startswith(_LEARNED):
        return None
    # The version that bid is in the bid's own words; the stored row is only the newest.
    bids: list[dict[str, Any]] = auction.get("bids") or []
    bid = next((b for b in bids if b.get("model_id") == model_id), {})
    found = _CLASSIFIER_VERSION.search(str(bid.get("p_source", "")))
    current = classifiers.get(run.task_name)
    return ClassifierUse(
        model_id=model_id,
        version=int(found.group(1)) if found else None,
        current_version=current[0] if current else None,
        trained_on=current[1] if current else None,
    )


def _example_used(
    edge: RunExampleRow,
    memory: Mapping[str, tuple[str | None, str | None]],
    feedback_by_run: Mapping[str, list[FeedbackRow]],
    used_at: datetime,
) -> ExampleUsed:
    remembered = edge.example_id in memory and memory[edge.example_id][0] == edge.source_run_id
    feedback_id = memory[edge.example_id][1] if remembered else None
    if feedback_id is None and edge.source_run_id is not None:
        # Replaced since: the feedback on the source run given before the example was used.
        earlier = [
            f for f in feedback_by_run.get(edge.source_run_id, []) if f.created_at <= used_at
        ]
        feedback_id = earlier[-1].id if earlier else None
    return ExampleUsed(
        example_id=edge.example_id,
        position=edge.position,
        similarity=edge.similarity,
        source=edge.source,
        source_run_id=edge.source_run_id,
        feedback_id=feedback_id,
        remembered=remembered,
    )


def _feedback_node(row: FeedbackRow) -> FeedbackNode:
    return FeedbackNode(
        id=row.id,
        kind=row.kind,
        source=row.source,
        output=row.output,
        reward=row.reward,
        superseded_by=row.superseded_by,
        created_at=row.created_at,
    )


async def build_influence(
    store: Store, example_id: str, *, tenant: str, max_depth: int = 5
) -> Influence:
    """Every run of ``tenant`` that example ``example_id`` influenced, up to ``max_depth``
    hops: the runs that used it, then the runs that used examples learned from those."""
    if max_depth < 1:
        raise ValueError(f"max_depth must be 1 or more, not {max_depth}")
    async with _reading(store, f"read the influence of example {example_id!r}") as s:
        reached = await q.downstream(s, tenant, example_id, max_depth)
        sources = await q.sources_of(s, tenant, example_id)
        remembered = example_id in await q.memory_of(s, tenant, [example_id])
        first: dict[str, tuple[int, str, float]] = {}
        for run_id, depth, via, similarity in reached:
            first.setdefault(run_id, (depth, via, similarity))
        runs = {r.id: r for r in await q.runs_of(s, tenant, sorted(first))}
        at_edge = [r for r, (d, _, _) in first.items() if d == max_depth]
        truncated = await q.taught_any(s, tenant, at_edge)
    if not first and not sources and not remembered:
        raise ExampleNotFoundError(
            f"no example {example_id!r} in tenant {tenant!r}, and no run used one",
            hint="`atomic lineage RUN_ID` lists the examples a run used, with their ids",
            context={"example_id": example_id, "tenant": tenant},
        )
    influenced = [
        InfluencedRun(
            run_id=run_id,
            depth=depth,
            via_example=via,
            similarity=similarity,
            task_name=runs[run_id].task_name,
            model_id=runs[run_id].model_id,
            status=runs[run_id].status,
            created_at=runs[run_id].created_at,
        )
        for run_id, (depth, via, similarity) in first.items()
        if run_id in runs
    ]
    influenced.sort(key=lambda r: (r.depth, r.created_at, r.run_id))
    return Influence(
        example_id=example_id,
        tenant=tenant,
        max_depth=max_depth,
        truncated=truncated,
        source_run_ids=sources,
        remembered=remembered,
        runs=influenced,
    )
