"""Which run a request to a model belongs to, as the egress ledger needs to know it.

A model adapter sees one request, not the run, task or policy behind it. ``Atomic.run`` opens
an :func:`egress_scope` for the task it runs (in the calling task's context), and
:func:`note_run`, subscribed to the exchange's events, writes the run's id into it once the
auction has made the run. Concurrent calls each run in their own asyncio task, so each sees
its own scope.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from atomic.events import AuctionCleared, Event
from atomic.models import Residency
from atomic.tasks import Task

__all__ = ["RunScope", "current_scope", "egress_scope", "note_run", "policy_version"]


@dataclass
class RunScope:
    """The call a request to a model is for."""

    tenant: str
    task_name: str
    sensitivity: str
    policy_version: str
    allowed: tuple[str, ...]
    """The residencies the task's sensitivity lets data go to."""
    run_id: str | None = None

    def rule(self, residency: str) -> str:
        """The rule that let data go to a model of ``residency``, in words."""
        return (
            f"task {self.task_name!r} is {self.sensitivity}, and {self.sensitivity} data may go "
            f"to {', '.join(self.allowed)} models: {residency} is allowed"
        )


_scope: ContextVar[RunScope | None] = ContextVar("atomic_egress_scope", default=None)


def policy_version(sensitivity: str, allowed: tuple[str, ...]) -> str:
    """A digest of the sensitivity rules applied. Policies have no versions of their own yet:
    the digest changes exactly when the rules that allowed an egress change."""
    rules = {"sensitivity": sensitivity, "allowed_residencies": sorted(allowed)}
    text = json.dumps(rules, sort_keys=True, separators=(",", ":"))
    return "sensitivity-sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def egress_scope(task: Task[Any, Any], tenant: str) -> Iterator[RunScope]:
    """Requests sent inside the block are recorded as being for ``task`` and ``tenant``."""
    allowed = tuple(r.value for r in Residency if task.sensitivity.allows(r))
    scope = RunScope(
        tenant=tenant,
        task_name=task.name,
        sensitivity=task.sensitivity.value,
        policy_version=policy_version(task.sensitivity.value, allowed),
        allowed=allowed,
    )
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def current_scope() -> RunScope | None:
    """The scope of the call being served here, if any."""
    return _scope.get()


def note_run(event: Event) -> None:
    """An exchange subscriber: the run an auction made is the run of the current scope."""
    if isinstance(event, AuctionCleared):
        scope = _scope.get()
        if scope is not None and scope.task_name == event.run.task_name:
            scope.run_id = event.run.id
