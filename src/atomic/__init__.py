"""Atomic: typed AI microtasks on a model exchange."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# A library logs; the application decides where (without this, Python would print warnings,
# such as a failed run's log line, to stderr).
logging.getLogger("atomic").addHandler(logging.NullHandler())

# Imported on first use: `atomic --help` and other short commands import this package, and
# the store and the exchange behind `Atomic` take most of a second to import.
_HOMES = {
    "Atomic": "atomic._client",
    "AtomicError": "atomic.errors",
    "AtomicSettings": "atomic.settings",
    "Result": "atomic.exchange",
    **dict.fromkeys(("FunctionModel", "Model", "ModelCard", "ScriptedModel"), "atomic.models"),
    **dict.fromkeys(("Check", "Example", "Sensitivity", "Task", "check"), "atomic.tasks"),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'atomic' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
