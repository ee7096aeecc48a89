"""The Temporal runner: Atomic workflows as Temporal workflows, each step an activity.

```python
client = await connect_temporal("localhost:7233")      # `atomic temporal dev` serves one
async with TemporalRunner(atomic, client, workflows=[triage]) as runner:
    routed = await runner.run(triage, {"body": "my card is lost"})
```

Inside ``async with`` the runner is also a worker of its task queue: it runs the workflows it
was given and their steps on this process's :class:`~atomic.Atomic`. Other processes can serve
the same queue (``atomic worker``), and a runner made with ``atomic=None`` is only a client:
it starts workflows and awaits their results while workers elsewhere run them.

Temporal owns retries. A step's activity turns an :class:`~atomic.errors.AtomicError` into an
``ApplicationError`` whose ``type`` is the error's code, non-retryable unless the error is
retryable, and delayed by a rate limit's ``retry_after``; the activity's retry policy does the
rest (:class:`TemporalStepOptions`). Activities are at-least-once: a worker that dies after a model
answered but before Temporal recorded it runs that step again on another worker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel, TypeAdapter
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from atomic.errors import AtomicError, ConfigError, RateLimitError, WorkflowError
from atomic.workflows._api import StepCall, StepResult, WorkflowDef
from atomic.workflows._direct import execute_step
from atomic.workflows._status import (
    WorkflowNotFoundError,
    WorkflowState,
    WorkflowStatus,
    WorkflowStepStatus,
    step_status,
)
from atomic.workflows._temporal_workflow import (
    STEP_ACTIVITY,
    WORKFLOW_TYPE,
    AtomicWorkflow,
    TemporalStepOptions,
    atomic_sandbox,
    failure_details,
    hosted,
)

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from atomic._client import Atomic

__all__ = [
    "StepActivity",
    "TemporalRunner",
    "activity_error",
    "connect_temporal",
]

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out")

# Temporal's workflow states, as Atomic names them for every runner.
_STATES: dict[str, WorkflowState] = {
    "COMPLETED": "succeeded",
    "FAILED": "failed",
    "TIMED_OUT": "failed",
    "TERMINATED": "cancelled",
    "CANCELED": "cancelled",
}


async def connect_temporal(
    address: str = "localhost:7233",
    *,
    namespace: str = "default",
    tracer_provider: TracerProvider | None = None,
) -> Client:
    """A Temporal client that encodes Pydantic models (what Atomic's workflows exchange).

    Trace context crosses from the code that starts a workflow to its steps (Temporal's
    OpenTelemetry interceptor), so each step's run span joins the caller's trace: spans go
    to ``tracer_provider``, or to the one the ``OTEL_*`` variables configure; with neither,
    they cost nothing.
    """
    from temporalio.contrib.opentelemetry import TracingInterceptor

    from atomic.observability import configure_tracing

    provider = tracer_provider or configure_tracing()
    tracer = provider.get_tracer("atomic.workflows") if provider is not None else None
    try:
        return await Client.connect(
            address,
            namespace=namespace,
            data_converter=pydantic_data_converter,
            interceptors=[TracingInterceptor(tracer)],
        )
    except RuntimeError as exc:  # the SDK's "Failed client connect: ..."
        raise ConfigError(
            f"cannot connect to Temporal at {address}: {exc}",
            hint="start a server (`atomic temporal dev`) or pass the right --address",
            context={"address": address, "namespace": namespace},
        ) from exc


def _with_pydantic(client: Client) -> Client:
    if client.data_converter.payload_converter_class is (
        pydantic_data_converter.payload_converter_class
    ):
        return client
    # Same connection, another converter: StepCall and StepResult are Pydantic models.
    config = client.config()
    config["data_converter"] = pydantic_data_converter
    return Client(**config)


def activity_error(exc: AtomicError) -> ApplicationError:
    """How a failed step reports to Temporal: the code as the type, retryable as Atomic says."""
    delay = None
    if isinstance(exc, RateLimitError) and exc.retry_after is not None:
        delay = timedelta(seconds=exc.retry_after)
    return ApplicationError(
        str(exc),
        failure_details(exc),
        type=exc.code,
        non_retryable=not exc.is_retryable,
        next_retry_delay=delay,
    )


async def _heartbeat(every: float) -> None:
    while True:
        await asyncio.sleep(every)
        activity.heartbeat()


class StepActivity:
    """The ``atomic_step`` activity: one step's task call on this worker's Atomic."""

    def __init__(self, atomic: Atomic) -> None:
        self.atomic = atomic

    @activity.defn(name=STEP_ACTIVITY)
    async def run(self, call: StepCall) -> StepResult:
        timeout = activity.info().heartbeat_timeout
        # A model call can take minutes on a CPU; heartbeats tell Temporal the worker is alive
        # so a dead one is noticed within the heartbeat timeout, not the whole call's timeout.
        beat = asyncio.create_task(_heartbeat(timeout.total_seconds() / 4)) if timeout else None
        try:
            return await execute_step(self.atomic, call)
        except AtomicError as exc:
            raise activity_error(exc) from exc
        finally:
            if beat is not None:
                beat.cancel()
                await asyncio.wait({beat})  # unlike `await beat`, never swallows our own cancel


def _failed(
    wf: WorkflowDef[Any, Any], workflow_id: str, exc: WorkflowFailureError
) -> WorkflowError:
    """The workflow's failure as an Atomic error naming the code of what made it fail."""
    # The chain runs ActivityError -> our ApplicationError -> the Python cause it was raised
    # from; the first application error is the one that carries the Atomic code.
    chain: list[FailureError] = []
    cause: BaseException | None = exc.cause
    while isinstance(cause, FailureError):
        chain.append(cause)
        cause = cause.cause
    app = next((f for f in chain if isinstance(f, ApplicationError)), None)
    code = app.type if app is not None else None
    reason = (app or chain[0]).message if chain else str(exc)
    return WorkflowError(
        f"workflow {wf.name!r} ({workflow_id}) failed: {code + ': ' if code else ''}{reason}",
        hint="see the workflow's history (`temporal workflow show --workflow-id ID`); the code "
        "says which error ended it",
        context={"workflow": wf.name, "workflow_id": workflow_id, "cause_code": code},
    )


class TemporalRunner:
    """Runs Atomic workflows on Temporal; inside ``async with``, also a worker for them.

    ``workflows`` are the definitions this process serves; ``step_options`` sets each step's
    activity timeouts and retry policy. Without an ``atomic`` the runner only starts
    workflows and awaits results (workers elsewhere serve ``task_queue``).
    """

    def __init__(
        self,
        atomic: Atomic | None,
        client: Client,
        *,
        task_queue: str = "atomic",
        workflows: Sequence[WorkflowDef[Any, Any]] = (),
        step_options: TemporalStepOptions | None = None,
    ) -> None:
        self.atomic = atomic
        self.client = _with_pydantic(client)
        self.task_queue = task_queue
        self.workflows = list(workflows)
        self.step_options = step_options or TemporalStepOptions()
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> TemporalRunner:
        if self.atomic is None:
            raise WorkflowError(
                "a TemporalRunner without an Atomic cannot run a worker",
                hint="pass the Atomic whose models run the steps, or use the runner without "
                "`async with` to only start workflows and await their results",
            )
        if self._stack is not None:
            raise WorkflowError("this TemporalRunner's worker is already running")
        worker = Worker(
            self.client,
            task_queue=self.task_queue,
            workflows=[AtomicWorkflow],
            activities=[StepActivity(self.atomic).run],
            workflow_runner=atomic_sandbox(),
        )
        async with AsyncExitStack() as stack:
            stack.enter_context(hosted(self.workflows, self.atomic.tasks, self.step_options))
            await stack.enter_async_context(worker)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    async def start(
        self,
        wf: WorkflowDef[In, Any],
        workflow_input: In | Mapping[str, Any],
        *,
        workflow_id: str | None = None,
        tenant: str | None = None,
    ) -> str:
        """Start ``wf`` on ``workflow_input`` and return its workflow id at once; its steps
        act as ``tenant`` (None: the worker's settings' tenant)."""
        data = wf.parse_input(workflow_input).model_dump(mode="json")
        workflow_id = workflow_id or f"{wf.name}-{uuid.uuid4().hex}"
        args: list[Any] = [wf.name, data] if tenant is None else [wf.name, data, tenant]
        try:
            handle = await self.client.start_workflow(
                WORKFLOW_TYPE, args=args, id=workflow_id, task_queue=self.task_queue
            )
        except WorkflowAlreadyStartedError as exc:
            raise WorkflowError(
                f"a workflow with the id {workflow_id!r} is already running",
                hint="await it with runner.result(id, wf), or start this one with another id",
                context={"workflow": wf.name, "workflow_id": workflow_id},
            ) from exc
        return handle.id

    async def result(self, workflow_id: str, wf: WorkflowDef[Any, Out]) -> Out:
        """Wait for the workflow ``workflow_id`` (a run of ``wf``) and return its typed output;
        a failed workflow raises :class:`~atomic.errors.WorkflowError`."""
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            raw = await handle.result()
        except WorkflowFailureError as exc:
            raise _failed(wf, workflow_id, exc) from exc
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            raise WorkflowError(
                f"no workflow with the id {workflow_id!r} in namespace {self.client.namespace!r}",
                hint="use the id start() returned, on the same Temporal server and namespace",
                context={"workflow": wf.name, "workflow_id": workflow_id},
            ) from exc
        return cast(Out, TypeAdapter(wf.output_type).validate_python(raw))

    async def run(
        self,
        wf: WorkflowDef[In, Out],
        workflow_input: In | Mapping[str, Any],
        *,
        workflow_id: str | None = None,
        tenant: str | None = None,
    ) -> Out:
        """Run ``wf`` on ``workflow_input`` to completion and return its output."""
        started = await self.start(wf, workflow_input, workflow_id=workflow_id, tenant=tenant)
        return await self.result(started, wf)

    async def describe(self, workflow_id: str) -> WorkflowStatus:
        """A workflow run's state, steps and output or error, from its Temporal history."""
        handle, described = await describe_execution(
            self.client,
            workflow_id,
            hint="use the id start() returned, on the same Temporal server and namespace",
        )
        return await history_status(self.client, handle, described)


async def describe_execution(
    client: Client, workflow_id: str, *, hint: str
) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]:
    """The workflow ``workflow_id``'s handle and Temporal's description of it; an unknown id
    is :class:`~atomic.errors.WorkflowNotFoundError` with ``hint``."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        return handle, await handle.describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise WorkflowError(
                f"Temporal could not describe workflow {workflow_id!r}: {exc}",
                hint="check the server address and namespace",
                context={"workflow_id": workflow_id},
            ) from exc
        raise WorkflowNotFoundError(
            f"no workflow {workflow_id!r} in namespace {client.namespace!r}",
            hint=hint,
            context={"workflow_id": workflow_id},
        ) from None


async def history_status(
    client: Client, handle: WorkflowHandle[Any, Any], described: WorkflowExecutionDescription
) -> WorkflowStatus:
    """A described run as Atomic names it: state, steps and output or error from its history."""
    workflow_id = handle.id
    decode = client.data_converter.decode
    args: list[Any] = []
    steps: dict[int, WorkflowStepStatus] = {}
    output: Any = None
    error: str | None = None
    async for event in handle.fetch_history_events():
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            args = list(await decode(payloads))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            call = (await decode(scheduled.input.payloads))[0]
            task = call.get("task", "?") if isinstance(call, dict) else "?"
            steps[event.event_id] = step_status(len(steps) + 1, task, None, None)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            if (step := steps.get(done.scheduled_event_id)) is not None:
                result = (await decode(done.result.payloads))[0]
                steps[done.scheduled_event_id] = step_status(step.step, step.task, result, None)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = event.activity_task_failed_event_attributes
            if (step := steps.get(failed.scheduled_event_id)) is not None:
                steps[failed.scheduled_event_id] = step_status(
                    step.step, step.task, None, failed.failure.message
                )
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            payloads = event.workflow_execution_completed_event_attributes.result.payloads
            output = (await decode(payloads))[0] if payloads else None
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            error = event.workflow_execution_failed_event_attributes.failure.message
    status = described.status
    return WorkflowStatus(
        workflow_id=workflow_id,
        workflow=str(args[0]) if args else described.workflow_type,
        state=_STATES.get(status.name if status is not None else "", "running"),
        runner="temporal",
        tenant=args[2] if len(args) > 2 else None,
        created_at=described.start_time,
        updated_at=described.close_time,
        input=args[1] if len(args) > 1 else None,
        output=output,
        error=error,
        steps=list(steps.values()),
    )
