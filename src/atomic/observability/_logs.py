"""Structured logs: one JSON line per run and per workflow step (a warning line for each
that failed).

Lines go to the ``atomic.runs`` logger: route it where your logs go. They carry ids, costs
and codes, never a secret and never prompt text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from atomic.events import Event, RunRefused, RunSettled, StepFinished

__all__ = ["RunLog"]

log = logging.getLogger("atomic.runs")


class RunLog:
    """Writes each settled or refused run, and each finished workflow step, as a JSON line;
    subscribe it to an event bus."""

    def __init__(self, trace_id: Callable[[str], str | None] | None = None) -> None:
        self._trace_id = trace_id

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepFinished):
            self._step(event)
            return
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

    def _step(self, event: StepFinished) -> None:
        level = logging.WARNING if event.error_code else logging.INFO
        if not log.isEnabledFor(level):
            return
        line = {
            "event": "step",
            "workflow": event.workflow,
            "workflow_id": event.workflow_id,
            "step": event.step,
            "run_id": event.run_id,
            "trace_id": _current_trace_id(),
            "tenant": event.tenant,
            "task": event.task_name,
            "model": event.model_id,
            "status": "failed" if event.error_code else "succeeded",
            "cost_usd": event.cost_usd,
            "latency_ms": round(event.latency_ms, 3),
            "error_code": event.error_code,
        }
        log.log(level, json.dumps(line, separators=(",", ":")))


def _current_trace_id() -> str | None:
    # A step's trace is the one it runs in (the workflow's, the request's): its id, if any.
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
