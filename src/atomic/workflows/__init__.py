"""Durable workflows of task calls: the API, and the runners that execute it."""

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

__all__ = [
    "DirectRunner",
    "StepCall",
    "StepResult",
    "StepRunner",
    "TypedStep",
    "WorkflowDef",
    "current_runner",
    "execute_step",
    "step",
    "use_runner",
    "workflow",
]
