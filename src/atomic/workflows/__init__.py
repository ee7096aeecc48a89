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
from atomic.workflows._embedded import EmbeddedRunner
from atomic.workflows._temporal import TemporalRunner, connect_temporal
from atomic.workflows._temporal_workflow import TemporalStepOptions

__all__ = [
    "DirectRunner",
    "EmbeddedRunner",
    "StepCall",
    "StepResult",
    "StepRunner",
    "TemporalRunner",
    "TemporalStepOptions",
    "TypedStep",
    "WorkflowDef",
    "connect_temporal",
    "current_runner",
    "execute_step",
    "step",
    "use_runner",
    "workflow",
]
