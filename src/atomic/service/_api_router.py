"""The REST API's routes under ``/v1``: HTTP in, :class:`RestServing` does the work."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request

from atomic._client import Atomic
from atomic.exchange import AuctionRecord
from atomic.service._auth import principal
from atomic.service._deps import Principal, get_atomic
from atomic.service._problems import problem_responses
from atomic.service._protocol import (
    AdaptationAction,
    AdaptationView,
    FeedbackRequest,
    ModelList,
    RunList,
    RunRequest,
    RunResponse,
    TaskList,
)
from atomic.service._serving import RestServing
from atomic.storage import FeedbackRecord, RunRecord, RunStatus

__all__ = ["router"]


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problem_responses(400, 401, 422, *statuses)


def serving(request: Request, atomic: Annotated[Atomic, Depends(get_atomic)]) -> RestServing:
    return RestServing(atomic, request.app.state.keys)


Serving = Annotated[RestServing, Depends(serving)]
Caller = Annotated[Principal, Depends(principal)]
TaskName = Annotated[str, Path(max_length=200, description="The task's name.")]
RunId = Annotated[str, Path(max_length=200, description="The run's id.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="A repeat with the same key gets the first response; no model is called "
        "again (the idempotency middleware does the work).",
    ),
]

router = APIRouter(prefix="/v1")


@router.post(
    "/tasks/{task}/runs",
    response_model=RunResponse,
    responses=_problems(404, 409, 429, 502, 504),
    summary="Run a task on an input through the exchange",
    tags=["runs"],
)
async def create_run(
    task: TaskName,
    body: RunRequest,
    who: Caller,
    work: Serving,
    idempotency_key: IdempotencyKey = None,
) -> RunResponse:
    return await work.run(who, task, body)


@router.get(
    "/runs",
    response_model=RunList,
    responses=_problems(),
    summary="The caller's runs, newest first",
    tags=["runs"],
)
async def list_runs(
    who: Caller,
    work: Serving,
    task: Annotated[str | None, Query(max_length=200)] = None,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> RunList:
    return await work.list_runs(who, task=task, status=status, limit=limit, cursor=cursor)


@router.get(
    "/runs/{run_id}",
    response_model=RunRecord,
    responses=_problems(404),
    summary="A run with its attempts",
    tags=["runs"],
)
async def get_run(run_id: RunId, who: Caller, work: Serving) -> RunRecord:
    return await work.get_run(who, run_id)


@router.get(
    "/runs/{run_id}/explain",
    response_model=AuctionRecord,
    responses=_problems(404),
    summary="The auction behind a run: every bid, exclusion and reason",
    tags=["runs"],
)
async def explain_run(run_id: RunId, who: Caller, work: Serving) -> AuctionRecord:
    return await work.atomic.explain(run_id, tenant=who.tenant)


@router.post(
    "/runs/{run_id}/feedback",
    response_model=FeedbackRecord,
    responses=_problems(404, 409),
    summary="Say how a run went; the exchange and the task's memory learn from it",
    tags=["runs"],
)
async def record_feedback(
    run_id: RunId,
    body: FeedbackRequest,
    who: Caller,
    work: Serving,
    idempotency_key: IdempotencyKey = None,
) -> FeedbackRecord:
    return await work.feedback(who, run_id, body)


@router.get(
    "/models",
    response_model=ModelList,
    responses=_problems(),
    summary="Registered models (with their cards) and Atomic's virtual models, in OpenAI's format",
    tags=["models"],
)
async def list_models(who: Caller, work: Serving) -> ModelList:
    return work.models()


@router.get(
    "/tasks",
    response_model=TaskList,
    responses=_problems(),
    summary="Registered tasks, each with its input and output JSON Schema",
    tags=["tasks"],
)
async def list_tasks(who: Caller, work: Serving) -> TaskList:
    return TaskList(tasks=work.tasks())


@router.get(
    "/tasks/{task}/adaptation",
    response_model=AdaptationView,
    responses=_problems(404),
    summary="What a task has learned for the caller's tenant",
    tags=["tasks"],
)
async def get_adaptation(task: TaskName, who: Caller, work: Serving) -> AdaptationView:
    return await work.adaptation(who, task)


@router.post(
    "/tasks/{task}/adaptation",
    response_model=AdaptationView,
    responses=_problems(404),
    summary="Freeze, unfreeze or reset a task's memory and classifier",
    tags=["tasks"],
)
async def change_adaptation(
    task: TaskName,
    body: AdaptationAction,
    who: Caller,
    work: Serving,
    idempotency_key: IdempotencyKey = None,
) -> AdaptationView:
    return await work.adapt(who, task, body.action)
