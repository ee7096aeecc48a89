"""Workflows over HTTP: the runner the service opens for the workflows its settings name, and
the routes that start and describe them.

``POST /v1/workflows/{name}`` starts a run for the caller's tenant (every step acts as it) and
answers 202 with its id at once; ``GET /v1/workflows/{id}`` reads its state, steps (each with
its run id, for ``explain`` and feedback) and output or error; another tenant's run is a 404.
The runner is the configured one: embedded (DBOS, journaled in Atomic's database, in this one
process) or Temporal (this process is also a worker of the task queue).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from atomic.errors import InputValidationError, WorkflowNotFoundError
from atomic.service._auth import principal
from atomic.service._deps import Principal
from atomic.service._problems import problem_responses
from atomic.structured import format_validation_errors
from atomic.workflows import WorkflowDef, WorkflowState, WorkflowStatus

if TYPE_CHECKING:
    from atomic._client import Atomic
    from atomic.settings import AtomicSettings

__all__ = ["WorkflowHost", "open_workflows", "router", "served_workflows"]


class _Runner(Protocol):
    async def start(
        self,
        wf: WorkflowDef[Any, Any],
        workflow_input: Any,
        *,
        workflow_id: str | None = None,
        tenant: str | None = None,
    ) -> str: ...

    async def describe(self, workflow_id: str) -> WorkflowStatus: ...


class WorkflowHost:
    """The workflows this service serves, and the runner that runs them."""

    def __init__(
        self,
        runner: _Runner | None,
        definitions: list[WorkflowDef[Any, Any]],
        kind: str = "none",
    ) -> None:
        self.runner = runner
        self.definitions = {d.name: d for d in definitions}
        self.kind = kind
        """The runner's kind: ``embedded``, ``temporal``, or ``none`` (no workflows)."""

    def get(self, name: str) -> WorkflowDef[Any, Any]:
        found = self.definitions.get(name)
        if found is None:
            served = sorted(self.definitions)
            raise WorkflowNotFoundError(
                f"no workflow named {name!r} is served here",
                hint=(
                    f"serve one of {', '.join(served)} (GET /v1/workflows lists them)"
                    if served
                    else "name workflows in ATOMIC_WORKFLOWS or atomic.toml's "
                    "[workflows] definitions, then restart `atomic serve`"
                ),
                context={"workflow": name, "served": served},
            )
        return found

    async def start(self, name: str, data: dict[str, Any], tenant: str) -> WorkflowStarted:
        wf = self.get(name)
        try:
            parsed = wf.parse_input(data)
        except ValidationError as exc:
            errors = format_validation_errors(exc)
            raise InputValidationError(
                f"input does not match workflow {name!r} ({wf.input_type.__name__}): "
                + "; ".join(errors),
                errors=errors,
                hint="give a JSON object with the fields: "
                + ", ".join(wf.input_type.model_fields)
                + " (GET /v1/workflows has its input schema)",
                context={"workflow": name, "errors": errors},
            ) from exc
        assert self.runner is not None  # a served workflow has a runner
        workflow_id = await self.runner.start(wf, parsed, tenant=tenant)
        return WorkflowStarted(workflow_id=workflow_id, workflow=name, state="running")

    async def describe(self, workflow_id: str, tenant: str) -> WorkflowStatus:
        missing = WorkflowNotFoundError(
            f"no workflow has the id {workflow_id!r}",
            hint="use the workflow_id that POST /v1/workflows/{name} returned",
            context={"workflow_id": workflow_id},
        )
        if self.runner is None:
            raise missing
        status = await self.runner.describe(workflow_id)
        if status.tenant != tenant:  # another tenant's run is as good as absent
            raise missing
        return status


def served_workflows(settings: AtomicSettings) -> list[WorkflowDef[Any, Any]]:
    """The workflows the settings name (none without ``workflows``)."""
    from atomic.workflows import load_workflows

    return load_workflows(settings.workflows) if settings.workflows else []


@asynccontextmanager
async def open_workflows(
    atomic: Atomic, definitions: list[WorkflowDef[Any, Any]]
) -> AsyncIterator[WorkflowHost]:
    """The runner for ``definitions``, open while inside (none without workflows). Open
    ``atomic`` with :func:`~atomic.workflows.with_their_tasks` so their steps' tasks are
    registered."""
    settings = atomic.settings
    if not definitions:
        yield WorkflowHost(None, [])
        return
    async with AsyncExitStack() as stack:
        runner: _Runner
        if settings.workflow_runner == "temporal":
            from atomic.workflows import TemporalRunner, connect_temporal

            client = await connect_temporal(
                settings.temporal_address, namespace=settings.temporal_namespace
            )
            runner = await stack.enter_async_context(
                TemporalRunner(
                    atomic,
                    client,
                    task_queue=settings.temporal_task_queue,
                    workflows=definitions,
                )
            )
        else:
            from atomic.workflows import EmbeddedRunner

            runner = await stack.enter_async_context(EmbeddedRunner(atomic, definitions))
        yield WorkflowHost(runner, definitions, settings.workflow_runner)


# The HTTP side.


class WorkflowView(BaseModel):
    name: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = Field(
        default=None, description="None when the workflow's return type has no JSON Schema."
    )


class WorkflowList(BaseModel):
    runner: str = Field(description="`embedded`, `temporal`, or `none` (no workflows served).")
    workflows: list[WorkflowView]


class WorkflowStart(BaseModel):
    input: dict[str, Any] = Field(description="The workflow's input (see its input_schema).")


class WorkflowStarted(BaseModel):
    workflow_id: str
    workflow: str
    state: WorkflowState


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problem_responses(400, 401, 422, *statuses)


def _host(request: Request) -> WorkflowHost:
    host: WorkflowHost = request.app.state.workflows
    return host


def _output_schema(wf: WorkflowDef[Any, Any]) -> dict[str, Any] | None:
    try:
        return TypeAdapter(wf.output_type).json_schema()
    except Exception:  # pydantic's several "no schema for this type" errors
        return None


Host = Annotated[WorkflowHost, Depends(_host)]
Caller = Annotated[Principal, Depends(principal)]

router = APIRouter(prefix="/v1", tags=["workflows"])


@router.get(
    "/workflows",
    response_model=WorkflowList,
    responses=_problems(),
    summary="The workflows this service starts, each with its input and output JSON Schema",
)
async def list_workflows(who: Caller, host: Host) -> WorkflowList:
    return WorkflowList(
        runner=host.kind,
        workflows=[
            WorkflowView(
                name=name,
                input_schema=wf.input_type.model_json_schema(),
                output_schema=_output_schema(wf),
            )
            for name, wf in sorted(host.definitions.items())
        ],
    )


@router.post(
    "/workflows/{name}",
    response_model=WorkflowStarted,
    status_code=202,
    responses=_problems(404, 409),
    summary="Start a workflow for the caller's tenant; its id comes back at once",
)
async def start_workflow(
    name: Annotated[str, Path(max_length=200, description="The workflow's name.")],
    body: WorkflowStart,
    who: Caller,
    host: Host,
    response: Response,
) -> WorkflowStarted:
    started = await host.start(name, body.input, who.tenant)
    response.headers["Location"] = f"/v1/workflows/{started.workflow_id}"
    return started


@router.get(
    "/workflows/{workflow_id}",
    response_model=WorkflowStatus,
    responses=_problems(404),
    summary="A workflow run: its state, its steps (with their run ids) and output or error",
)
async def get_workflow(
    workflow_id: Annotated[str, Path(max_length=300, description="The workflow run's id.")],
    who: Caller,
    host: Host,
) -> WorkflowStatus:
    return await host.describe(workflow_id, who.tenant)
