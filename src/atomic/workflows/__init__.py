"""Durable workflows of task calls: the API, and the runners that execute it.

The durable runners load their engines (DBOS, Temporal's SDK) when first named, so code
that only declares workflows, or runs them directly, never pays for importing them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from atomic.workflows._api import (
    StepCall,
    StepResult,
    StepRunner,
    TypedStep,
    WorkflowDef,
    current_runner,
    step,
    use_runner,
    workflow,
)
from atomic.workflows._direct import DirectRunner, execute_step
from atomic.workflows._status import (
    WorkflowNotFoundError,
    WorkflowState,
    WorkflowStatus,
    WorkflowStepStatus,
    load_workflows,
    with_their_tasks,
)

if TYPE_CHECKING:
    from atomic.workflows._embedded import EmbeddedRunner
    from atomic.workflows._temporal import TemporalRunner, connect_temporal
    from atomic.workflows._temporal_dev import DevServer, temporal_dev_server
    from atomic.workflows._temporal_workflow import TemporalStepOptions

__all__ = [
    "DevServer",
    "DirectRunner",
    "EmbeddedRunner",
    "StepCall",
    "StepResult",
    "StepRunner",
    "TemporalRunner",
    "TemporalStepOptions",
    "TypedStep",
    "WorkflowDef",
    "WorkflowNotFoundError",
    "WorkflowState",
    "WorkflowStatus",
    "WorkflowStepStatus",
    "connect_temporal",
    "current_runner",
    "execute_step",
    "load_workflows",
    "step",
    "temporal_dev_server",
    "use_runner",
    "with_their_tasks",
    "workflow",
]

_LAZY = {
    "EmbeddedRunner": "_embedded",
    "TemporalRunner": "_temporal",
    "connect_temporal": "_temporal",
    "TemporalStepOptions": "_temporal_workflow",
    "DevServer": "_temporal_dev",
    "temporal_dev_server": "_temporal_dev",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
