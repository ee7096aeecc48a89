"""What the dashboard shows, read from the store: the tape of auctions, per task × model
statistics, learning over time and budgets. Every read is scoped to one tenant, and reads the
database (not this process's memory), so every worker of ``atomic serve`` shows the same."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from atomic.exchange import AuctionRecord
from atomic.storage import RunStatus, utcnow
from atomic.storage._tables import AuctionRow, OutcomeRow, RunRow

__all__ = ["TapeBid", "TapeEntry", "finished_runs", "learning", "model_stats", "tape_entry"]

_ROW_LIMIT = 20_000
"""At most this many runs feed one panel: the newest of the window."""


class TapeBid(BaseModel):
    model_id: str
    p_success: float
    cost_usd: float
    latency_p50_ms: float


class TapeEntry(BaseModel):
    """One run on the live tape: its auction in a line, and the one-sentence why."""

    run_id: str
    created_at: datetime
    finished_at: datetime | None
    task: str
    status: str
    winner: str | None
    served_by: str | None
    bids: list[TapeBid]
    margin: float | None
    exclusions: list[str]
    cost_usd: float
    latency_ms: float
    why: str


@dataclass
class PanelRun:
    """A finished run with its auction and counted outcome (reward), as the panels need it."""

    id: str
    task: str
    status: str
    model_id: str | None
    cost_usd: float
    latency_ms: float
    created_at: datetime
    finished_at: datetime | None
    record: dict[str, Any] | None
    reward: float | None = None


def _sentence(record: AuctionRecord) -> str:
    from atomic.views._explain import explain_sentence

    return explain_sentence(record)


def tape_entry(row: PanelRun) -> TapeEntry:
    record = AuctionRecord.model_validate(row.record) if row.record else None
    return TapeEntry(
        run_id=row.id,
        created_at=row.created_at,
        finished_at=row.finished_at,
        task=row.task,
        status=row.status,
        winner=record.winner if record else None,
        served_by=row.model_id,
        bids=[
            TapeBid(
                model_id=b.model_id,
                p_success=b.p_success,
                cost_usd=b.cost_usd,
                latency_p50_ms=b.latency_p50_ms,
            )
            for b in (record.bids if record else [])
        ],
        margin=record.margin if record else None,
        exclusions=[f"{e.model_id}: {e.code}" for e in (record.exclusions if record else [])],
        cost_usd=row.cost_usd,
        latency_ms=row.latency_ms,
        why=_sentence(record) if record else "no auction was recorded for this run",
    )


async def finished_runs(
    engine: Any,
    tenant: str,
    *,
    since: datetime | None = None,
    finished_since: datetime | None = None,
    task: str | None = None,
    limit: int = _ROW_LIMIT,
    newest_first: bool = True,
) -> list[PanelRun]:
    """A tenant's finished runs with their auction records and outcomes."""
    statement = (
        sa.select(
            RunRow.id, RunRow.task_name, RunRow.status, RunRow.model_id, RunRow.cost_usd,
            RunRow.latency_ms, RunRow.created_at, RunRow.finished_at, AuctionRow.record,
            OutcomeRow.reward,
        )
        .outerjoin(AuctionRow, AuctionRow.run_id == RunRow.id)
        .outerjoin(OutcomeRow, OutcomeRow.run_id == RunRow.id)
        .where(RunRow.tenant == tenant, RunRow.status != RunStatus.RUNNING.value)
    )  # fmt: skip
    if since is not None:
        statement = statement.where(RunRow.created_at >= since)
    if finished_since is not None:
        statement = statement.where(RunRow.finished_at >= finished_since)
    if task is not None:
        statement = statement.where(RunRow.task_name == task)
    order = RunRow.finished_at if finished_since is not None else RunRow.created_at
    statement = statement.order_by(order.desc() if newest_first else order.asc(), RunRow.id)
    async with engine.connect() as connection:
        rows = (await connection.execute(statement.limit(limit))).all()
    return [
        PanelRun(r[0], r[1], r[2], r[3], float(r[4]), float(r[5]), r[6], r[7], r[8], r[9])
        for r in rows
    ]


def window_start(window_s: float) -> datetime:
    return utcnow() - timedelta(seconds=window_s)


@dataclass
class _Tally:
    won: int = 0
    costs: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    turns: int = 0
    valid_turns: int = 0
    invalid_turns: int = 0
    failures: int = 0
    cascades: int = 0


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def model_stats(runs: list[PanelRun]) -> list[dict[str, Any]]:
    """Per task × model: win share, runs, correctness (and how much feedback), validity, mean
    cost, p50/p95 latency, failures and cascades."""
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    per_task: dict[str, int] = defaultdict(int)
    for run in runs:
        per_task[run.task] += 1
        record = run.record or {}
        winner = record.get("winner")
        cascade = record.get("cascade") or []
        if winner:
            tally = tallies[(run.task, winner)]
            tally.won += 1
            tally.costs.append(run.cost_usd)
            tally.latencies.append(run.latency_ms)
            tally.cascades += len(cascade) > 1
        if run.reward is not None and run.model_id:
            tallies[(run.task, run.model_id)].rewards.append(run.reward)
        for turn in cascade:
            tally = tallies[(run.task, turn["model_id"])]
            tally.turns += 1
            if turn["outcome"] == "succeeded":
                tally.valid_turns += 1
            else:
                tally.failures += 1
                tally.invalid_turns += turn["outcome"] == "invalid_output"
    rows = []
    for (task, model), t in sorted(tallies.items()):
        answered = t.valid_turns + t.invalid_turns
        rows.append(
            {
                "task": task,
                "model": model,
                "runs": t.won,
                "win_share": t.won / per_task[task] if per_task[task] else 0.0,
                "correctness": statistics.fmean(t.rewards) if t.rewards else None,
                "feedback": len(t.rewards),
                "validity": t.valid_turns / answered if answered else None,
                "mean_cost_usd": statistics.fmean(t.costs) if t.costs else None,
                "latency_p50_ms": _quantile(t.latencies, 0.5),
                "latency_p95_ms": _quantile(t.latencies, 0.95),
                "failures": t.failures,
                "cascades": t.cascades,
            }
        )
    return rows


_FREE_USD = 1e-6
"""Below this mean cost per call, models count as free (local), and the slowest is the dear one."""


def learning(runs: list[PanelRun], buckets: int = 24) -> dict[str, Any]:
    """A task's runs, oldest first, in time buckets: rolling correctness (over the feedback so
    far), cost per call, and the share of the dearest serving model (by mean cost, or by mean
    latency when every model is as good as free, as local ones are)."""
    empty: dict[str, Any] = {"t": [], "correctness": [], "cost": [], "expensive_share": []}
    if not runs:
        return empty | {"expensive": None, "expensive_by": None}
    served: dict[str, list[PanelRun]] = defaultdict(list)
    for run in runs:
        if run.model_id:
            served[run.model_id].append(run)
    costs = {m: statistics.fmean(r.cost_usd for r in rs) for m, rs in served.items()}
    latencies = {m: statistics.fmean(r.latency_ms for r in rs) for m, rs in served.items()}
    by = "cost" if costs and max(costs.values()) >= _FREE_USD else "latency"
    ranking = costs if by == "cost" else latencies
    expensive = max(ranking, key=lambda m: ranking[m]) if ranking else None
    start, end = runs[0].created_at.timestamp(), runs[-1].created_at.timestamp()
    width = max((end - start) / buckets, 1e-6)
    grouped: dict[int, list[PanelRun]] = defaultdict(list)
    for run in runs:
        grouped[min(int((run.created_at.timestamp() - start) / width), buckets - 1)].append(run)
    series: dict[str, list[Any]] = {key: [] for key in empty}
    rewards: list[float] = []
    for index in sorted(grouped):
        group = grouped[index]
        rewards.extend(r.reward for r in group if r.reward is not None)
        recent = rewards[-50:]
        series["t"].append(start + (index + 1) * width)
        series["correctness"].append(statistics.fmean(recent) if recent else None)
        series["cost"].append(statistics.fmean(r.cost_usd for r in group))
        series["expensive_share"].append(sum(r.model_id == expensive for r in group) / len(group))
    return series | {"expensive": expensive, "expensive_by": by}
