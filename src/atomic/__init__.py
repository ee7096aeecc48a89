"""Atomic: typed AI microtasks on a model exchange."""

from atomic._client import Atomic
from atomic.errors import AtomicError
from atomic.exchange import Result
from atomic.models import FunctionModel, Model, ModelCard, ScriptedModel
from atomic.settings import AtomicSettings
from atomic.tasks import Check, Example, Sensitivity, Task, check

__all__ = [
    "Atomic",
    "AtomicError",
    "AtomicSettings",
    "Check",
    "Example",
    "FunctionModel",
    "Model",
    "ModelCard",
    "Result",
    "ScriptedModel",
    "Sensitivity",
    "Task",
    "check",
]
