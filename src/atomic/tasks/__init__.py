"""Tasks: typed microtasks, their prompts, checks, and the validate → re-ask loop."""

from atomic.tasks._attempt import Attempt, ModelOutcome, attempt_model
from atomic.tasks._catalog import TaskCatalog
from atomic.tasks._prompt import render_messages, render_reask, wire_output
from atomic.tasks._task import Check, CheckResult, Example, Sensitivity, Task, check

__all__ = [
    "Attempt",
    "Check",
    "CheckResult",
    "Example",
    "ModelOutcome",
    "Sensitivity",
    "Task",
    "TaskCatalog",
    "attempt_model",
    "check",
    "render_messages",
    "render_reask",
    "wire_output",
]
