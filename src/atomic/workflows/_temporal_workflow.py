"""The one Temporal workflow behind every Atomic workflow, and the registry it runs from.

Temporal knows a single workflow type, ``atomic``, whose arguments are an Atomic workflow's
name and its input as JSON. A worker registers the :class:`~atomic.workflows.WorkflowDef`
objects it serves (:func:`hosted`); the workflow looks the definition up by name and runs its
function with a step runner that makes each :func:`~atomic.workflows.step` the activity
``atomic_step``. Temporal journals the activity results, so on recovery the function is
replayed and gets them back without calling a model again.

Sandbox: Temporal re-imports a workflow's module in a sandbox for every run, so this module
has no import-time side effects beyond defining things, and imports Atomic and Pydantic
through :func:`temporalio.workflow.unsafe.imports_passed_through` (they are deterministic
libraries; re-importing them per run would only cost time). The registry must be the
worker's own, not a sandbox copy, so workers run with :func:`atomic_sandbox`, which passes
the whole ``atomic`` package through. The workflow functions are the worker's objects and
run with its globals: the sandbox cannot police them, and the replay test is what guards
their determinism.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

with workflow.unsafe.imports_passed_through():
    from pydantic import TypeAdapter, ValidationError

    from atomic.errors import AtomicError, InputValidationError, WorkflowError
    from atomic.tasks import TaskCatalog
    from atomic.workflows._api import StepCall, StepResult, WorkflowDef, use_runner

__all__ = [
    "STEP_ACTIVITY",
    "WORKFLOW_TYPE",
    "AtomicWorkflow",
    "TemporalStepOptions",
    "atomic_sandbox",
    "failure_details",
    "hosted",
]

WORKFLOW_TYPE = "atomic"
STEP_ACTIVITY = "atomic_step"


def _default_retry() -> RetryPolicy:
    # Temporal owns step retries: the activity marks errors that retrying cannot fix as
    # non-retryable, so a cap on attempts only bounds transient failures (5xx, timeouts).
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=60),
        maximum_attempts=5,
    )


@dataclass(frozen=True)
class TemporalStepOptions:
    """How each step's activity is scheduled: its timeouts and retry policy.

    ``heartbeat_timeout`` is how fast a dead worker's step is noticed and retried elsewhere;
    the activity heartbeats four times per timeout while the model works.
    """

    start_to_close_timeout: timedelta = timedelta(minutes=5)
    heartbeat_timeout: timedelta = timedelta(seconds=10)
    retry_policy: RetryPolicy = field(default_factory=_default_retry)


@dataclass(frozen=True)
class _Hosted:
    definition: WorkflowDef[Any, Any]
    tasks: TaskCatalog
    options: TemporalStepOptions
    output: TypeAdapter[Any]


# Workflow name -> the registrations serving it in this process, newest last. Keyed by name
# rather than task queue because the Replayer runs histories on a task queue of its own.
_hosted: dict[str, list[_Hosted]] = {}


@contextmanager
def hosted(
    definitions: Sequence[WorkflowDef[Any, Any]], tasks: TaskCatalog, options: TemporalStepOptions
) -> Iterator[None]:
    """Serve ``definitions`` to :class:`AtomicWorkflow` in this process while inside."""
    entries: list[_Hosted] = []
    try:
        for definition in definitions:
            stack = _hosted.setdefault(definition.name, [])
            if any(h.definition.fn is not definition.fn for h in stack):
                raise WorkflowError(
                    f"two different workflows are named {definition.name!r} in this process",
                    hint="give one of them another name with @workflow(name=...)",
                    context={"workflow": definition.name},
                )
            entry = _Hosted(definition, tasks, options, TypeAdapter(definition.output_type))
            stack.append(entry)
            entries.append(entry)
        yield
    finally:
        for entry in entries:
            stack = _hosted[entry.definition.name]
            stack.remove(entry)
            if not stack:
                del _hosted[entry.definition.name]


def failure_details(exc: AtomicError) -> dict[str, Any]:
    """An error's description as plain JSON, to ride along in a Temporal failure (its
    context may hold values the data converter cannot encode)."""
    details: dict[str, Any] = json.loads(json.dumps(exc.to_dict(), default=str))
    return details


def atomic_sandbox() -> SandboxedWorkflowRunner:
    """Temporal's workflow sandbox with the ``atomic`` package passed through, so the
    workflow sees the worker's registry (pass it to a ``Worker`` or ``Replayer``)."""
    # OpenTelemetry too: the tracing interceptor carries trace context through workflows.
    restrictions = SandboxRestrictions.default.with_passthrough_modules("atomic", "opentelemetry")
    return SandboxedWorkflowRunner(restrictions=restrictions)


class _ActivityStepRunner:
    """The step runner inside the workflow: every step is one ``atomic_step`` activity."""

    def __init__(self, tasks: TaskCatalog, options: TemporalStepOptions) -> None:
        self.tasks = tasks
        self._options = options
        self._steps = 0

    async def step(self, call: StepCall) -> StepResult:
        # The task's name in the activity id makes replay check it: a new version of the
        # workflow that calls another task at this step fails with a nondeterminism error
        # instead of being handed the old task's journaled result. (Temporal compares activity
        # ids and types on replay, not inputs, and every step has the same type.)
        self._steps += 1
        # By name, so this module never imports the activity's worker-only code.
        result: StepResult = await workflow.execute_activity(
            STEP_ACTIVITY,
            call,
            result_type=StepResult,
            start_to_close_timeout=self._options.start_to_close_timeout,
            heartbeat_timeout=self._options.heartbeat_timeout,
            retry_policy=self._options.retry_policy,
            activity_id=f"{self._steps}-{call.task}",
            summary=call.task,
        )
        return result


@workflow.defn(name=WORKFLOW_TYPE)
class AtomicWorkflow:
    """Runs the Atomic workflow named by the first argument on the JSON input, its steps
    acting as the tenant of the third (None: the worker's settings' tenant)."""

    @workflow.run
    async def run(
        self, name: str, workflow_input: dict[str, Any], tenant: str | None = None
    ) -> Any:
        stack = _hosted.get(name)
        if not stack:
            # A plain exception fails the workflow *task*, which Temporal retries: a worker
            # that does serve this workflow (or this one, fixed) can still run it.
            raise WorkflowError(
                f"this worker does not serve the workflow {name!r}",
                hint="start the worker with the workflow (TemporalRunner(workflows=[...]) or "
                "`atomic worker --workflows module:attr`), and give a Worker or Replayer of "
                "your own workflow_runner=atomic_sandbox()",
                context={"workflow": name, "served": sorted(_hosted)},
            )
        host = stack[-1]
        definition = host.definition
        try:
            parsed = definition.parse_input(workflow_input)
        except ValidationError as exc:  # only from a starter other than TemporalRunner
            raise ApplicationError(
                f"the input of workflow {name!r} is invalid: {exc}",
                type=InputValidationError.code,
                non_retryable=True,
            ) from exc
        try:
            runner = _ActivityStepRunner(host.tasks, host.options)
            workflow_id = workflow.info().workflow_id
            with use_runner(runner, tenant=tenant, workflow=name, workflow_id=workflow_id):
                output = await definition(parsed)
        except AtomicError as exc:
            # Raised by the workflow's own deterministic code (a bad step input, an unknown
            # task): the same on every replay, so fail the workflow rather than retry forever.
            raise ApplicationError(
                str(exc), failure_details(exc), type=exc.code, non_retryable=True
            ) from exc
        return host.output.dump_python(output, mode="json")
