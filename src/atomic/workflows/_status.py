"""What a workflow run looks like from outside, whichever runner ran it: its state, its steps
(each one task call, with its run id for ``explain`` and feedback) and its output or error.

Both durable runners describe their runs in these terms (``runner.describe(workflow_id)``),
so the service's ``GET /v1/workflows/{id}`` reads the same on DBOS and on Temporal.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from atomic.errors import ConfigError, WorkflowNotFoundError
from atomic.workflows._api import WorkflowDef

if TYPE_CHECKING:
    from atomic.settings import AtomicSettings

__all__ = [
    "WorkflowNotFoundError",
    "WorkflowState",
    "WorkflowStatus",
    "WorkflowStepStatus",
    "load_workflows",
    "with_their_tasks",
]

WorkflowState = Literal["running", "succeeded", "failed", "cancelled"]


class WorkflowStepStatus(BaseModel):
    """One journaled step: the task it called and, once done, its run or its error."""

    step: int = Field(description="The step's position in the workflow, from 1.")
    task: str
    state: Literal["running", "succeeded", "failed"]
    run_id: str | None = Field(
        default=None, description="The step's run (for explain and feedback), once it succeeded."
    )
    model_id: str | None = None
    cost_usd: float | None = None
    output: Any = None
    error: str | None = None


class WorkflowStatus(BaseModel):
    """A workflow run: its state, steps, and output or error."""

    workflow_id: str
    workflow: str = Field(description="The workflow's name (its @workflow).")
    state: WorkflowState
    runner: Literal["embedded", "temporal"]
    tenant: str | None = Field(
        default=None, description="The tenant its steps act as (None: the settings' tenant)."
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None
    input: Any = None
    output: Any = None
    error: str | None = None
    steps: list[WorkflowStepStatus] = Field(default_factory=list)


def step_status(position: int, task: str, result: Any, error: Any) -> WorkflowStepStatus:
    """A step from its journaled result (a ``StepResult`` as JSON) or its error."""
    if error is not None:
        return WorkflowStepStatus(step=position, task=task, state="failed", error=str(error))
    if not isinstance(result, dict):
        return WorkflowStepStatus(step=position, task=task, state="running")
    return WorkflowStepStatus(
        step=position,
        task=str(result.get("task", task)),
        state="succeeded",
        run_id=result.get("run_id"),
        model_id=result.get("model_id"),
        cost_usd=result.get("cost_usd"),
        output=result.get("output"),
    )


def load_workflows(specs: str | list[str]) -> list[WorkflowDef[Any, Any]]:
    """Import workflows named ``module:attribute`` (or a whole ``module``: every
    ``@workflow`` in it), comma-separated or as a list."""
    # Like uvicorn: the current folder is importable, so `flows:triage` finds ./flows.py
    # when the command is run from the project.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    items = specs.split(",") if isinstance(specs, str) else specs
    found: list[WorkflowDef[Any, Any]] = []
    for spec in filter(None, (s.strip() for s in items)):
        module_name, _, attribute = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
            values = (
                [getattr(module, attribute)]
                if attribute
                else [v for v in vars(module).values() if isinstance(v, WorkflowDef)]
            )
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"cannot load workflow {spec!r}: {exc}",
                hint="name each workflow as module:attribute, e.g. flows:triage, with the "
                "module importable from the current folder or the environment",
                context={"workflow": spec},
            ) from exc
        if not values:
            raise ConfigError(
                f"module {module_name!r} defines no workflow",
                hint="decorate an async function in it with @atomic.workflows.workflow, or "
                "name one as module:attribute",
                context={"workflow": spec},
            )
        for value in values:
            if not isinstance(value, WorkflowDef):
                raise ConfigError(
                    f"{spec!r} is a {type(value).__name__}, not a workflow",
                    hint="decorate the async function with @atomic.workflows.workflow",
                    context={"workflow": spec},
                )
            if value not in found:
                found.append(value)
    if not found:
        raise ConfigError(
            "no workflows given", hint="name them as module:attribute[,module:attribute]"
        )
    return found


def with_their_tasks(
    settings: AtomicSettings, definitions: Sequence[WorkflowDef[Any, Any]]
) -> AtomicSettings:
    """``settings`` with the modules that define ``definitions`` among its task modules: the
    tasks declared next to a workflow are the ones its steps call."""
    modules = dict.fromkeys(d.fn.__module__ for d in definitions)
    extra = [m for m in modules if m not in settings.task_modules]
    if not extra:
        return settings
    return settings.model_copy(update={"task_modules": [*settings.task_modules, *extra]})
