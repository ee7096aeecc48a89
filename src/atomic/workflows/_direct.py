"""The step body every runner executes, and the direct runner: in process, not durable."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from atomic.errors import AtomicError
from atomic.events import StepFinished, StepStarted
from atomic.workflows._api import StepCall, StepResult, WorkflowDef, use_runner

if TYPE_CHECKING:
    from atomic._client import Atomic

__all__ = ["DirectRunner", "execute_step"]

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out")


async def execute_step(atomic: Atomic, call: StepCall) -> StepResult:
    """Run one step's task call through the exchange: what a durable step does inside.

    A step of a workflow run (``call.workflow_id`` set) publishes :class:`StepStarted` and
    :class:`StepFinished` on the exchange's event bus, which traces, metrics and logs hear.
    """
    task = atomic.tasks.get(call.task)
    events = atomic.exchange.events
    started: StepStarted | None = None
    if call.workflow_id is not None and events.observed:
        started = StepStarted(
            workflow=call.workflow or "?",
            workflow_id=call.workflow_id,
            step=call.step or 0,
            task_name=task.name,
            tenant=call.tenant or atomic.settings.tenant,
        )
        await events.publish(started)
    clock = time.perf_counter()
    try:
        result = await atomic.run(
            task,
            call.input,
            model=call.model,
            models=call.models,
            max_cost_usd=call.max_cost_usd,
            deadline_s=call.deadline_s,
            tenant=call.tenant,
        )
    except AtomicError as error:
        if started is not None:
            elapsed = (time.perf_counter() - clock) * 1000
            await events.publish(_finished(started, elapsed, error_code=error.code))
        raise
    if started is not None:
        elapsed = (time.perf_counter() - clock) * 1000
        await events.publish(
            _finished(
                started,
                elapsed,
                run_id=result.run_id,
                model_id=result.model_id,
                cost_usd=result.cost_usd,
            )
        )
    return StepResult(
        task=task.name,
        output=task.schema.dump(result.output),
        run_id=result.run_id,
        model_id=result.model_id,
        attempts=result.attempts,
        cost_usd=result.cost_usd,
        latency_ms=result.latency_ms,
    )


def _finished(started: StepStarted, latency_ms: float, **outcome: Any) -> StepFinished:
    return StepFinished(
        workflow=started.workflow,
        workflow_id=started.workflow_id,
        step=started.step,
        task_name=started.task_name,
        tenant=started.tenant,
        latency_ms=latency_ms,
        **outcome,
    )


class DirectRunner:
    """Runs a workflow in this process with no journal: a crash loses it. The baseline the
    durable runners are measured against, and handy in notebooks and unit tests."""

    def __init__(self, atomic: Atomic) -> None:
        self.atomic = atomic
        self.tasks = atomic.tasks

    async def step(self, call: StepCall) -> StepResult:
        return await execute_step(self.atomic, call)

    async def run(
        self,
        wf: WorkflowDef[In, Out],
        workflow_input: In | Mapping[str, Any],
        *,
        workflow_id: str | None = None,
    ) -> Out:
        """Run ``wf`` on ``workflow_input`` to completion and return its output."""
        with use_runner(self, workflow=wf.name, workflow_id=workflow_id):
            return await wf(wf.parse_input(workflow_input))
