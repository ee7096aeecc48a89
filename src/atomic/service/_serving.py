"""The REST API's serving logic: each route's work on ``Atomic``, apart from HTTP."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from atomic._client import Atomic
from atomic.errors import StorageError
from atomic.service._budget import charged
from atomic.service._deps import Principal
from atomic.service._keys import KeyStore
from atomic.service._openai_serving import text_input
from atomic.service._problems import ServiceError
from atomic.service._protocol import (
    AdaptationView,
    FeedbackRequest,
    ModelList,
    ModelView,
    RunList,
    RunRequest,
    RunResponse,
    TaskView,
    UsageView,
    objective_of,
)
from atomic.storage import FeedbackRecord, RunRecord, RunStatus
from atomic.storage._tables import RunRow
from atomic.tasks import Task

__all__ = ["RestServing"]


class RestServing:
    """The work behind each REST route, for one caller at a time."""

    def __init__(self, atomic: Atomic, keys: KeyStore | None = None) -> None:
        self.atomic = atomic
        self.keys = keys

    def task(self, name: str) -> Task[Any, Any]:
        return self.atomic.tasks.get(name)

    async def run(self, who: Principal, task_name: str, body: RunRequest) -> RunResponse:
        task = self.task(task_name)
        async with charged(self.atomic, self.keys, who, body.max_cost_usd) as cap:
            result = await self.atomic.run(
                task,
                body.input if isinstance(body.input, dict) else text_input(task, body.input),
                model=body.model,
                models=body.models,
                exclude=body.exclude,
                objective=objective_of(body.objective),
                max_cost_usd=cap.max_cost_usd,
                deadline_s=body.deadline_s,
                tenant=who.tenant,
            )
            cap.cost_usd = result.cost_usd
        return RunResponse(
            run_id=result.run_id,
            task=task.name,
            output=task.schema.dump(result.output),
            model_id=result.model_id,
            attempts=result.attempts,
            usage=UsageView(
                input_tokens=result.usage.input_tokens, output_tokens=result.usage.output_tokens
            ),
            cost_usd=result.cost_usd,
            latency_ms=result.latency_ms,
        )

    async def list_runs(
        self,
        who: Principal,
        *,
        task: str | None,
        status: RunStatus | None,
        limit: int,
        cursor: str | None,
    ) -> RunList:
        store = self.atomic.store
        await store.reap_abandoned()
        statement = select(RunRow).where(RunRow.tenant == who.tenant)
        if task is not None:
            statement = statement.where(RunRow.task_name == task)
        if status is not None:
            statement = statement.where(RunRow.status == status.value)
        if cursor is not None:
            created_at, run_id = _decode_cursor(cursor)
            statement = statement.where(
                or_(
                    RunRow.created_at < created_at,
                    and_(RunRow.created_at == created_at, RunRow.id < run_id),
                )
            )
        statement = statement.order_by(RunRow.created_at.desc(), RunRow.id.desc()).limit(limit + 1)
        try:
            async with AsyncSession(store.engine) as session:
                rows = (await session.execute(statement)).scalars().all()
                runs = [_run_record(row) for row in rows[:limit]]
        except SQLAlchemyError as exc:
            raise StorageError(
                f"could not list runs in {store.url}: {type(exc).__name__}",
                hint="check that the database is reachable (GET /readyz)",
                context={"database": store.url},
            ) from exc
        next_cursor = _encode_cursor(runs[-1]) if len(rows) > limit and runs else None
        return RunList(runs=runs, next_cursor=next_cursor)

    async def get_run(self, who: Principal, run_id: str) -> RunRecord:
        return await self.atomic.get_run(run_id, tenant=who.tenant)

    async def feedback(self, who: Principal, run_id: str, body: FeedbackRequest) -> FeedbackRecord:
        return await self.atomic.record_feedback(
            run_id,
            body.kind,
            output=body.output,
            score=body.score,
            source=body.source,
            comment=body.comment,
            id=body.id,
            tenant=who.tenant,
        )

    def models(self) -> ModelList:
        views = [
            ModelView(id=m.id, owned_by=m.card.provider, card=m.card) for m in self.atomic.registry
        ]
        views.append(ModelView(id="atomic:auto", owned_by="atomic"))
        views.extend(
            ModelView(id=f"atomic:task/{t.name}", owned_by="atomic") for t in self.atomic.tasks
        )
        return ModelList(data=views)

    def tasks(self) -> list[TaskView]:
        return [task_view(t) for t in self.atomic.tasks]

    async def adaptation(self, who: Principal, task_name: str) -> AdaptationView:
        self.task(task_name)
        return AdaptationView.of(await self.atomic.task_status(task_name, tenant=who.tenant))

    async def adapt(self, who: Principal, task_name: str, action: str) -> AdaptationView:
        self.task(task_name)
        adaptation = self.atomic.adaptation
        dropped = None
        if action == "reset":
            dropped = await adaptation.reset(task_name, tenant=who.tenant)
        else:
            await adaptation.freeze(task_name, frozen=action == "freeze", tenant=who.tenant)
        status = await self.atomic.task_status(task_name, tenant=who.tenant)
        return AdaptationView.of(status, dropped=dropped)


def task_view(task: Task[Any, Any]) -> TaskView:
    return TaskView(
        name=task.name,
        version=task.version,
        kind=task.kind.value,
        description=task.description,
        instructions=task.instructions,
        sensitivity=task.sensitivity.value,
        value_usd=task.value_usd,
        input_schema=task.input.model_json_schema(),
        output_schema=task.schema.value_schema,
    )


def _run_record(row: RunRow) -> RunRecord:
    fields = {c: getattr(row, c) for c in RunRecord.model_fields if c != "attempts"}
    return RunRecord.model_validate(fields)


def _encode_cursor(run: RunRecord) -> str:
    raw = f"{run.created_at.isoformat()}|{run.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, run_id = raw.split("|", 1)
        return datetime.fromisoformat(created_at), run_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ServiceError(
            400,
            "request.invalid_cursor",
            f"the cursor {cursor!r} is not one this API gave out",
            hint="pass the next_cursor of the previous page unchanged, or no cursor",
            context={"cursor": cursor},
        ) from exc
