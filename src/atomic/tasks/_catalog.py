"""The tasks a process knows by name: the built-in ones and those of configured modules."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Iterator
from typing import Any

from atomic.errors import ConfigError, TaskNotFoundError
from atomic.tasks._task import Task

__all__ = ["TaskCatalog"]


class TaskCatalog:
    """Tasks by name."""

    def __init__(self, tasks: Iterable[Task[Any, Any]] = ()) -> None:
        self._tasks: dict[str, Task[Any, Any]] = {}
        for task in tasks:
            self.add(task)

    def add(self, task: Task[Any, Any]) -> None:
        existing = self._tasks.get(task.name)
        if existing is not None and existing is not task:
            raise ConfigError(
                f"two different tasks are named {task.name!r}",
                hint="rename one of them, or bump a version instead of redefining the task",
                context={"task": task.name},
            )
        self._tasks[task.name] = task

    def add_module(self, module_name: str) -> None:
        """Register every ``Task`` defined at the top level of ``module_name``."""
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"cannot import task module {module_name!r}: {exc}",
                hint="check ATOMIC_TASK_MODULES and that the module is on the Python path",
                context={"module": module_name},
            ) from exc
        for value in vars(module).values():
            if isinstance(value, Task):
                self.add(value)

    def get(self, name: str) -> Task[Any, Any]:
        try:
            return self._tasks[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._tasks), n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}?" if close else "`atomic tasks` lists them"
            raise TaskNotFoundError(
                f"no task named {name!r}",
                hint=hint,
                context={"task": name, "known": sorted(self._tasks)},
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[Task[Any, Any]]:
        return iter(self._tasks.values())

    def __len__(self) -> int:
        return len(self._tasks)
