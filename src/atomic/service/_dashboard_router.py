"""The dashboard's data under ``/v1/dashboard``: the live tape (SSE), one run's explanation,
per task × model statistics, learning over time, budgets and what-if. Every route acts as the
caller's tenant, like the rest of ``/v1``."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, Request
from sse_starlette import EventSourceResponse

from atomic._client import Atomic
from atomic.exchange import Budget
from atomic.exchange._whatif import objective_named
from atomic.service._auth import principal
from atomic.service._dashboard_data import (
    PanelRun,
    finished_runs,
    learning,
    model_stats,
    tape_entry,
    window_start,
)
from atomic.service._deps import Principal, get_atomic
from atomic.storage import utcnow
from atomic.storage._tables import RunRow

__all__ = ["router"]

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])

Caller = Annotated[Principal, Depends(principal)]
App = Annotated[Atomic, Depends(get_atomic)]
Window = Annotated[
    float, Query(gt=0, le=366 * 86_400, allow_inf_nan=False, description="Seconds back from now.")
]
TaskQuery = Annotated[str, Query(max_length=200, description="The task's name.")]

_POLL_S = 0.25
"""How often the feed reads the store: a stored run reaches the page well within a second."""
_OVERLAP = timedelta(seconds=5)
"""The feed re-reads this far behind the newest run it sent: a run's finish time is taken
before its row is committed, so runs of other workers (or a busy database) arrive a little out
of order."""
_PAGE = 1_000


@router.get("/overview", summary="The caller's tenant and its tasks")
async def overview(who: Caller, atomic: App) -> dict[str, Any]:
    return {
        "tenant": who.tenant,
        "admin": who.admin,
        "tasks": sorted(task.name for task in atomic.tasks),
    }


# Out of the OpenAPI document: a stream that never ends is no operation a client generator or a
# schema fuzzer can call.
@router.get(
    "/feed",
    summary="The live tape: finished runs over Server-Sent Events",
    include_in_schema=False,
)
async def feed(
    request: Request,
    who: Caller,
    atomic: App,
    backlog: Annotated[int, Query(ge=0, le=500)] = 30,
) -> EventSourceResponse:
    """First the newest ``backlog`` runs (oldest first), then each run as the store gets it
    (from any worker): events named ``run`` whose data is a tape entry."""
    return EventSourceResponse(_runs(request, atomic, who.tenant, backlog))


async def _runs(
    request: Request, atomic: Atomic, tenant: str, backlog: int
) -> AsyncIterator[dict[str, str]]:
    engine = atomic.store.engine
    watermark = utcnow() - _OVERLAP
    sent: dict[str, datetime] = {}
    first = await finished_runs(engine, tenant, limit=backlog) if backlog else []
    for run in reversed(first):
        yield _event(run, sent)
        watermark = max(watermark, (run.finished_at or run.created_at) - _OVERLAP)
    while not await request.is_disconnected():
        fresh = await finished_runs(
            engine, tenant, finished_since=watermark, newest_first=False, limit=_PAGE
        )
        for run in fresh:
            if run.id not in sent:
                yield _event(run, sent)
            watermark = max(watermark, (run.finished_at or run.created_at) - _OVERLAP)
        if len(fresh) == _PAGE:
            # A full page inside the overlap would be read again forever: move past it.
            watermark = max(watermark, fresh[-1].finished_at or watermark)
        for run_id, finished in list(sent.items()):
            if finished < watermark - _OVERLAP:
                del sent[run_id]
        await asyncio.sleep(_POLL_S)


def _event(run: PanelRun, sent: dict[str, datetime]) -> dict[str, str]:
    sent[run.id] = run.finished_at or run.created_at
    return {"event": "run", "id": run.id, "data": tape_entry(run).model_dump_json()}


@router.get("/runs/{run_id}", summary="A run, its auction and the full explanation")
async def run_view(
    run_id: Annotated[str, Path(max_length=200)], who: Caller, atomic: App
) -> dict[str, Any]:
    run = await atomic.store.get_run(run_id, tenant=who.tenant)
    record = await atomic.explain(run_id, tenant=who.tenant)
    row = PanelRun(
        run.id, run.task_name, run.status.value, run.model_id, run.cost_usd, run.latency_ms,
        run.created_at, run.finished_at, record.model_dump(mode="json"),
    )  # fmt: skip
    return {
        "entry": tape_entry(row).model_dump(mode="json"),
        "run": run.model_dump(mode="json"),
        "explanation": _explanation_text(record),
    }


def _explanation_text(record: Any) -> str:
    """The same content as ``atomic explain`` (its table and sentence), as plain text."""
    from rich.console import Console

    from atomic.views._explain import explain_view

    console = Console(file=io.StringIO(), width=110, record=True, color_system=None)
    console.print(explain_view(record, width=110))
    return console.export_text()


@router.get("/stats", summary="Per task × model over a window")
async def stats(who: Caller, atomic: App, window_s: Window = 86_400) -> dict[str, Any]:
    runs = await finished_runs(atomic.store.engine, who.tenant, since=window_start(window_s))
    return {"window_s": window_s, "runs": len(runs), "rows": model_stats(runs)}


@router.get("/learning", summary="A task's correctness, cost and classifier over time")
async def learning_view(
    task: TaskQuery, who: Caller, atomic: App, window_s: Window = 86_400
) -> dict[str, Any]:
    status = await atomic.task_status(task, tenant=who.tenant)
    runs = await finished_runs(
        atomic.store.engine, who.tenant, since=window_start(window_s), task=task,
        newest_first=False,
    )  # fmt: skip
    classifier = dataclasses.asdict(status.classifier) if status.classifier else None
    return {"task": task, "series": learning(runs), "classifier": classifier}


@router.get("/budgets", summary="Each budgeted task's spend in its window and pacing multiplier")
async def budgets(who: Caller, atomic: App) -> dict[str, Any]:
    rows = []
    for task in sorted(atomic.tasks, key=lambda t: t.name):
        pacer = atomic.exchange.pacer(task.name, who.tenant)
        if pacer is None:
            continue
        started = pacer.window_started_at()
        rows.append(
            {
                "task": task.name,
                "budget_usd": pacer.budget.amount_usd,
                "window_s": pacer.budget.window_s,
                "window_started_at": started.isoformat(),
                "spent_usd": await _spent(atomic, who.tenant, task.name, started),
                "multiplier": pacer.multiplier,
            }
        )
    return {"budgets": rows, "key_budget_left_usd": who.budget_left_usd}


async def _spent(atomic: Atomic, tenant: str, task: str, since: datetime) -> float:
    statement = sa.select(sa.func.coalesce(sa.func.sum(RunRow.cost_usd), 0.0)).where(
        RunRow.tenant == tenant, RunRow.task_name == task, RunRow.created_at >= since
    )
    async with atomic.store.engine.connect() as connection:
        return float((await connection.execute(statement)).scalar_one())


@router.get("/whatif", summary="Another objective's correctness and cost on the logged traffic")
async def whatif(
    task: TaskQuery,
    who: Caller,
    atomic: App,
    objective: Literal["utility", "min_cost", "max_quality"] = "utility",
    value: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    floor: Annotated[float, Query(ge=0, le=1, allow_inf_nan=False)] = 0.8,
    max_cost: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    budget_usd: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    budget_window_s: Annotated[float, Query(ge=1, allow_inf_nan=False)] = 86_400,
    window_s: Window = 7 * 86_400,
) -> dict[str, Any]:
    result = await atomic.what_if(
        task,
        objective_named(objective, value, floor, max_cost),
        since=window_start(window_s),
        tenant=who.tenant,
        budget=None if budget_usd is None else Budget(budget_usd, budget_window_s),
    )
    data: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(result), default=str))
    return data
