"""The Temporal side of ``atomic workflows``: list, show, cancel and retry through the server.

``retry`` resets a failed, cancelled or timed-out workflow to its last completed workflow task:
the steps (activities) it completed before stay completed, and the workflow goes on from there
on whatever worker serves its task queue.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from atomic.errors import AtomicError, WorkflowError

__all__ = ["temporal_cancel", "temporal_list", "temporal_retry", "temporal_show"]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _status(value: Any) -> str:
    return getattr(value, "name", str(value)) if value is not None else "UNKNOWN"


async def _client(address: str, namespace: str) -> Any:
    from atomic.workflows._temporal import connect_temporal

    return await connect_temporal(address, namespace=namespace)


async def temporal_list(
    address: str, namespace: str, *, limit: int, status: str | None, name: str | None
) -> list[dict[str, Any]]:
    client = await _client(address, namespace)
    clauses = []
    if status:
        clauses.append(f"ExecutionStatus = '{status.title().replace('_', '')}'")
    if name:
        clauses.append(f"WorkflowType = '{name}'")
    found = []
    async for execution in client.list_workflows(" AND ".join(clauses) or None, limit=limit):
        found.append(
            {
                "workflow_id": execution.id,
                "name": execution.workflow_type,
                "status": _status(execution.status),
                "created_at": _when(execution.start_time),
                "updated_at": _when(execution.close_time),
                "error": None,
                "run_id": execution.run_id,
                "task_queue": execution.task_queue,
            }
        )
    return found


async def _describe(client: Any, workflow_id: str) -> Any:
    from atomic.workflows._temporal import describe_execution

    return await describe_execution(
        client, workflow_id, hint="`atomic workflows list --address …` lists them"
    )


async def temporal_show(address: str, namespace: str, workflow_id: str) -> dict[str, Any]:
    from atomic.workflows._temporal import history_status

    client = await _client(address, namespace)
    handle, described = await _describe(client, workflow_id)
    shown = await history_status(client, handle, described)
    return {
        "workflow_id": workflow_id,
        "name": shown.workflow,
        "status": _status(described.status),
        "created_at": _when(shown.created_at),
        "updated_at": _when(shown.updated_at),
        "error": shown.error,
        "run_id": described.run_id,
        "task_queue": described.task_queue,
        "input": None if shown.input is None else json.dumps(shown.input),
        "output": None if shown.output is None else json.dumps(shown.output),
        "steps": [
            {
                "step": s.step,
                "name": s.task,
                "output": None if s.output is None else json.dumps(s.output),
                "error": s.error,
                "child_workflow_id": None,
            }
            for s in shown.steps
        ],
    }


async def temporal_cancel(address: str, namespace: str, workflow_id: str) -> dict[str, Any]:
    client = await _client(address, namespace)
    handle, described = await _describe(client, workflow_id)
    before = _status(described.status)
    if before != "RUNNING":
        raise WorkflowError(
            f"workflow {workflow_id!r} is {before}, not running: there is nothing to cancel",
            hint="only a running workflow can be cancelled",
            context={"workflow_id": workflow_id, "status": before},
        )
    await handle.cancel()
    return {"workflow_id": workflow_id, "before": before, "status": "CANCEL_REQUESTED"}


async def temporal_retry(address: str, namespace: str, workflow_id: str) -> dict[str, Any]:
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.enums.v1 import EventType
    from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest

    client = await _client(address, namespace)
    handle, described = await _describe(client, workflow_id)
    before = _status(described.status)
    if before in ("RUNNING", "COMPLETED"):
        raise WorkflowError(
            f"workflow {workflow_id!r} is {before}: there is nothing to retry",
            hint="retry a failed, cancelled, terminated or timed-out workflow",
            context={"workflow_id": workflow_id, "status": before},
        )
    last_task = None
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            last_task = event.event_id
    if last_task is None:
        raise WorkflowError(
            f"workflow {workflow_id!r} never completed a workflow task: nothing to resume from",
            hint="start it again with a new id",
            context={"workflow_id": workflow_id},
        )
    try:
        reset = await client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=namespace,
                workflow_execution=WorkflowExecution(
                    workflow_id=workflow_id, run_id=described.run_id
                ),
                reason="atomic workflows retry",
                workflow_task_finish_event_id=last_task,
                request_id=str(uuid.uuid4()),
            )
        )
    except Exception as exc:  # the SDK's RPCError, with the server's reason
        if isinstance(exc, AtomicError):
            raise
        raise WorkflowError(
            f"Temporal refused to reset workflow {workflow_id!r}: {exc}",
            hint="check the workflow's history in the Temporal UI",
            context={"workflow_id": workflow_id},
        ) from exc
    return {
        "workflow_id": workflow_id,
        "before": before,
        "retried_as": workflow_id,
        "run_id": reset.run_id,
        "status": "RUNNING",
        "from_event": last_task,
    }
