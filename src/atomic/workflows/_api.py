"""The workflow API: a workflow is an async function of a typed input that calls tasks with
:func:`step`; each step is one durable, journaled unit whatever runs the workflow.

```python
from atomic.workflows import step, workflow

@workflow
async def triage(email: Email) -> Routed:
    intent = await step("banking77-intent", {"text": email.body})
    return Routed(queue=queue_for(intent.output), intent_run=intent.run_id)
```

A runner executes the function and gives :func:`step` its meaning: the embedded runner
journals each step in Atomic's database (DBOS), the Temporal runner makes each step an
activity. Workflow code between steps must be deterministic (no clocks, randomness or I/O):
on recovery it is replayed, and the journaled step results are returned instead of running
the steps again.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from pydantic import BaseModel, Field

from atomic.errors import WorkflowError
from atomic.tasks import Task, TaskCatalog

__all__ = [
    "StepCall",
    "StepResult",
    "StepRunner",
    "TypedStep",
    "WorkflowDef",
    "current_runner",
    "step",
    "use_runner",
    "workflow",
]

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out")


class StepCall(BaseModel):
    """One task call inside a workflow, as the runner journals it."""

    task: str
    input: dict[str, Any]
    model: str | None = None
    models: list[str] | None = None
    max_cost_usd: float | None = None
    deadline_s: float | None = None
    tenant: str | None = None
    workflow: str | None = None
    workflow_id: str | None = None
    step: int | None = Field(default=None, ge=1, description="The step's position, from 1.")


class StepResult(BaseModel):
    """A step's journaled result: the output (as JSON) and what it took."""

    task: str
    output: Any
    run_id: str
    model_id: str
    attempts: int = Field(ge=1)
    cost_usd: float = Field(ge=0)
    latency_ms: float = Field(ge=0)


class StepRunner(Protocol):
    """What a runner provides to :func:`step` while a workflow runs."""

    tasks: TaskCatalog

    async def step(self, call: StepCall) -> StepResult: ...


@dataclass
class _Place:
    """The workflow run a step belongs to: its name, id, tenant, and steps so far. Replays
    run the workflow's code from the top, so the count gives a step the same position."""

    workflow: str | None = None
    workflow_id: str | None = None
    tenant: str | None = None
    steps: int = 0


_runner: ContextVar[StepRunner | None] = ContextVar("atomic_step_runner", default=None)
_place: ContextVar[_Place | None] = ContextVar("atomic_workflow_place", default=None)


def current_runner() -> StepRunner:
    runner = _runner.get()
    if runner is None:
        raise WorkflowError(
            "step() was called outside a running workflow",
            hint="call step() inside a function decorated with @workflow, started by a runner "
            "(EmbeddedRunner or TemporalRunner)",
        )
    return runner


@contextmanager
def use_runner(
    runner: StepRunner,
    *,
    tenant: str | None = None,
    workflow: str | None = None,
    workflow_id: str | None = None,
) -> Iterator[StepRunner]:
    """Make ``runner`` the one :func:`step` uses in this context, for the run
    ``workflow_id`` of ``workflow``, its steps acting as ``tenant`` (None: the settings'
    tenant). Runners call this."""
    token = _runner.set(runner)
    place_token = _place.set(_Place(workflow, workflow_id, tenant))
    try:
        yield runner
    finally:
        _place.reset(place_token)
        _runner.reset(token)


@dataclass(frozen=True)
class TypedStep(Generic[Out]):
    """A step's result with its output validated as the task's output type."""

    output: Out
    result: StepResult

    @property
    def run_id(self) -> str:
        return self.result.run_id

    @property
    def model_id(self) -> str:
        return self.result.model_id

    @property
    def cost_usd(self) -> float:
        return self.result.cost_usd


async def step(
    task: Task[Any, Out] | str,
    task_input: BaseModel | Mapping[str, Any],
    *,
    model: str | None = None,
    models: list[str] | None = None,
    max_cost_usd: float | None = None,
    deadline_s: float | None = None,
) -> TypedStep[Out]:
    """Run one task call as a durable step of the current workflow.

    The call goes through the exchange as :meth:`atomic.Atomic.run` would; its result is
    journaled, so a workflow that resumes after a crash gets it back without a second call.
    """
    runner = current_runner()
    resolved = runner.tasks.get(task) if isinstance(task, str) else task
    data = resolved.parse_input(task_input).model_dump(mode="json")
    place = _place.get() or _Place()
    place.steps += 1
    call = StepCall(
        task=resolved.name,
        input=data,
        model=model,
        models=models,
        max_cost_usd=max_cost_usd,
        deadline_s=deadline_s,
        tenant=place.tenant,
        workflow=place.workflow,
        workflow_id=place.workflow_id,
        step=place.steps,
    )
    result = await runner.step(call)
    return TypedStep(output=resolved.schema.validate(result.output), result=result)


@dataclass(frozen=True)
class WorkflowDef(Generic[In, Out]):
    """A workflow: its name, function, and typed input and output."""

    name: str
    fn: Callable[[In], Awaitable[Out]]
    input_type: type[In]
    output_type: Any

    async def __call__(self, workflow_input: In) -> Out:
        return await self.fn(workflow_input)

    def parse_input(self, data: In | Mapping[str, Any]) -> In:
        if isinstance(data, self.input_type):
            return data
        return self.input_type.model_validate(data)


def workflow(fn: Callable[[In], Awaitable[Out]] | None = None, *, name: str | None = None) -> Any:
    """Declare a workflow: ``@workflow`` or ``@workflow(name="...")`` on an async function
    of one Pydantic-model argument."""

    def wrap(inner: Callable[[In], Awaitable[Out]]) -> WorkflowDef[In, Out]:
        if not inspect.iscoroutinefunction(inner):
            raise WorkflowError(
                f"workflow {inner.__name__!r} must be an async function",
                hint="define it with `async def`",
            )
        hints = typing.get_type_hints(inner)
        params = [p for p in inspect.signature(inner).parameters if p != "return"]
        input_type = hints.get(params[0]) if len(params) == 1 else None
        if not (isinstance(input_type, type) and issubclass(input_type, BaseModel)):
            raise WorkflowError(
                f"workflow {inner.__name__!r} must take one argument annotated with a "
                "Pydantic model",
                hint="e.g. `async def handle(email: Email) -> Triage:`",
            )
        return WorkflowDef(
            name=name or inner.__name__,
            fn=inner,
            input_type=cast(type[In], input_type),
            output_type=hints.get("return", Any),
        )

    return wrap(fn) if fn is not None else wrap
