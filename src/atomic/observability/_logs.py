"""Structured logs: one JSON line per run (and a warning line per failed run).

Lines go to the ``atomic.runs`` logger: route it where your logs go. They carry ids, costs
and codes, never a secret and never prompt text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from atomic.events import Event, RunRefused, RunSettled

__all__ = ["RunLog"]

log = logging.getLogger("atomic.runs")


class RunLog:
    """Writes each settled or refused run as a JSON line; subscribe it to an event bus."""

    def __init__(self, trace_id: Callable[[str], str | None] | None = None) -> None:
        self._trace_id = trace_id

    def __call__(self, event: Event) -> None:
        if not isinstance(event, (RunSettled, RunRefused)):
            return
        run = event.run
        failed = run.status.value != "succeeded"
        level = logging.WARNING if failed else logging.INFO
        if not log.isEnabledFor(level):
            return
        line = {
            "event": "run",
            "run_id": run.id,
            "trace_id": self._trace_id(run.id) if self._trace_id else None,
            "tenant": run.tenant,
            "task": run.task_name,
            "model": run.model_id,
            "status": run.status.value,
            "cost_usd": run.cost_usd,
            "latency_ms": round(run.latency_ms, 3),
            "error_code": run.error_code,
        }
        log.log(level, json.dumps(line, separators=(",", ":")))
