"""``atomic workflows list | show | cancel | retry``: durable workflows, embedded or Temporal.

The embedded runner's are read from its journal (DBOS's system database next to Atomic's) with
DBOS's own client, so no workflow code is imported and no runner is started. ``retry`` puts a
cancelled workflow back on the queue under its id, and forks a failed one from its failed step
under a new id; the next embedded runner on the same database runs it. With ``--address``, the
same commands go to a Temporal server (:mod:`atomic.cli._workflows_temporal`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from atomic.errors import AtomicError, WorkflowError, WorkflowNotFoundError
from atomic.views._table import Column, fit_table, print_fitted

from . import _render
from ._output import console, emit_json, fail
from ._workflows_temporal import temporal_cancel, temporal_list, temporal_retry, temporal_show

if TYPE_CHECKING:
    from dbos import DBOSClient

__all__ = ["workflows_app"]

T = TypeVar("T")

workflows_app = typer.Typer(
    help="List, inspect, cancel or retry durable workflows: the embedded runner's, or a "
    "Temporal server's with --address.",
    no_args_is_help=True,
)

WorkflowId = Annotated[str, typer.Argument(help="A workflow id (see `atomic workflows list`).")]
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AddressOption = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="A Temporal server (host:port): the Temporal runner's workflows instead of the "
        "embedded runner's.",
        show_default=False,
    ),
]
NamespaceOption = Annotated[str, typer.Option("--namespace", help="Temporal namespace.")]


def _on_temporal(call: Callable[[], Awaitable[T]], as_json: bool) -> T:
    try:
        return asyncio.run(call())  # type: ignore[arg-type]
    except AtomicError as exc:
        fail(exc, as_json=as_json)


def _client(db: str | None, as_json: bool) -> DBOSClient | None:
    """DBOS's client on the journal, or None when no workflow ever ran on this database."""
    from sqlalchemy.engine import make_url

    from atomic.cli._app import _settings
    from atomic.workflows._embedded import _JournalSerializer, system_database_url

    settings = _settings(db, as_json=as_json)
    try:
        url = system_database_url(settings.resolved_database_url())
    except AtomicError as exc:
        fail(exc, as_json=as_json)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(str(parsed.database)).is_file():
        return None
    from dbos import DBOSClient

    try:
        return DBOSClient(
            system_database_url=url,
            serializer=_JournalSerializer(),  # the runner's own journal format
            retry_connection_errors=False,
        )
    except Exception as exc:  # DBOS raises its own and SQLAlchemy's errors here
        fail(
            WorkflowError(
                f"cannot read the workflow journal at {parsed.render_as_string()}: {exc}",
                hint="check ATOMIC_DATABASE_URL / --db; the journal is created by the first "
                "workflow the embedded runner runs",
                context={"journal": parsed.render_as_string()},
            ),
            as_json=as_json,
        )


def _when(epoch_ms: int | None) -> str:
    if not epoch_ms:
        return "-"
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _status_json(status: Any) -> dict[str, Any]:
    return {
        "workflow_id": status.workflow_id,
        "name": status.name,
        "status": status.status,
        "created_at": _when(status.created_at),
        "updated_at": _when(status.updated_at),
        "error": None if status.error is None else f"{type(status.error).__name__}: {status.error}",
        "executor_id": status.executor_id,
        "queue_name": status.queue_name,
    }


@workflows_app.command("list")
def list_workflows(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many.")] = 20,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only this status (PENDING, SUCCESS, ERROR, CANCELLED…)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Only this workflow.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    wide: Annotated[bool, typer.Option("--wide", help="Show every column.")] = False,
    address: AddressOption = None,
    namespace: NamespaceOption = "default",
) -> None:
    """List workflows, newest first."""
    if address is not None:
        rows = _on_temporal(
            lambda: temporal_list(address, namespace, limit=limit, status=status, name=name),
            as_json,
        )
        _print_list(rows, as_json, wide, filtered=bool(status or name))
        return
    client = _client(db, as_json)
    found = []
    if client is not None:
        try:
            found = client.list_workflows(
                status=status.upper() if status else None,
                name=name,
                limit=limit,
                sort_desc=True,
                load_input=False,
                load_output=False,
            )
        finally:
            client.destroy()
    _print_list([_status_json(s) for s in found], as_json, wide, filtered=bool(status or name))


def _print_list(rows: list[dict[str, Any]], as_json: bool, wide: bool, filtered: bool) -> None:
    if as_json:
        emit_json(rows)
        return
    if not rows:
        console.print("No workflows match." if filtered else "No workflows yet.")
        return
    columns = [
        Column("workflow", primary=True),
        Column("name", primary=True),
        Column("status", primary=True),
        Column("created (UTC)", drop=2),
        Column("updated (UTC)", drop=3),
        Column("error", flex=12, drop=1),
    ]
    cells: list[list[str | Text]] = [
        [
            r["workflow_id"],
            r["name"],
            Text(
                r["status"], style="green" if r["status"] in ("SUCCESS", "COMPLETED") else "yellow"
            ),
            r["created_at"],
            r["updated_at"],
            r["error"] or "",
        ]
        for r in rows
    ]
    print_fitted(
        console, fit_table(columns, cells, width=console.width, title="Workflows", wide=wide)
    )


def _get(client: DBOSClient, workflow_id: str) -> Any:
    found = client.list_workflows(workflow_ids=[workflow_id])
    if not found:
        raise WorkflowNotFoundError(
            f"no workflow {workflow_id!r} in the embedded runner's journal",
            hint="`atomic workflows list` lists them (ids are case-sensitive)",
            context={"workflow_id": workflow_id},
        )
    return found[0]


def _with_client(db: str | None, as_json: bool, workflow_id: str) -> DBOSClient:
    client = _client(db, as_json)
    if client is None:
        fail(
            WorkflowNotFoundError(
                f"no workflow {workflow_id!r}: no workflow has run on this database yet",
                hint="run one first (e.g. `atomic demo inbox`)",
                context={"workflow_id": workflow_id},
            ),
            as_json=as_json,
        )
    return client


@workflows_app.command("show")
def show(
    workflow_id: WorkflowId,
    db: DbOption = None,
    as_json: JsonOption = False,
    address: AddressOption = None,
    namespace: NamespaceOption = "default",
) -> None:
    """One workflow: status, input, output or error, and every step it journaled."""
    if address is not None:
        shown = _on_temporal(lambda: temporal_show(address, namespace, workflow_id), as_json)
        if as_json:
            emit_json(shown)
        else:
            console.print(_detail(shown, console.width))
        return
    client = _with_client(db, as_json, workflow_id)
    try:
        status = _get(client, workflow_id)
        steps = client.list_workflow_steps(workflow_id)
    except AtomicError as exc:
        fail(exc, as_json=as_json)
    finally:
        client.destroy()
    data = _status_json(status) | {
        "input": _render.short(status.input, 10_000) if status.input is not None else None,
        "output": _render.short(status.output, 10_000) if status.output is not None else None,
        "steps": [
            {
                "step": s["function_id"],
                "name": s["function_name"],
                "output": None if s["output"] is None else _render.short(s["output"], 10_000),
                "error": None
                if s["error"] is None
                else f"{type(s['error']).__name__}: {s['error']}",
                "child_workflow_id": s["child_workflow_id"],
            }
            for s in steps
        ],
    }
    if as_json:
        emit_json(data)
        return
    console.print(_detail(data, console.width))


def _detail(data: dict[str, Any], width: int) -> RenderableType:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    for key in ("workflow_id", "name", "status", "created_at", "updated_at", "error"):
        if data.get(key):
            head.add_row(key.replace("_", " "), str(data[key]))
    head.add_row("input", _render.short(data["input"] or "-", 300))
    head.add_row("output", _render.short(data["output"] or "-", 300))
    columns = [
        Column("#", primary=True, justify="right"),
        Column("step", primary=True),
        Column("output or error", flex=16, primary=True),
    ]
    rows: list[list[str | Text]] = [
        [
            str(s["step"]),
            s["name"],
            Text(s["error"], style="red") if s["error"] else s["output"] or "-",
        ]
        for s in data["steps"]
    ]
    table, _ = fit_table(columns, rows, width=width, title="Steps")
    return Group(head, Text(""), table)


@workflows_app.command("cancel")
def cancel(
    workflow_id: WorkflowId,
    db: DbOption = None,
    as_json: JsonOption = False,
    address: AddressOption = None,
    namespace: NamespaceOption = "default",
) -> None:
    """Cancel a pending workflow: it stops at its next step (its finished steps stay)."""
    if address is not None:
        done = _on_temporal(lambda: temporal_cancel(address, namespace, workflow_id), as_json)
        before, after = done["before"], done["status"]
    else:
        client = _with_client(db, as_json, workflow_id)
        try:
            before = _get(client, workflow_id).status
            client.cancel_workflow(workflow_id)
            after = _get(client, workflow_id).status
        except AtomicError as exc:
            fail(exc, as_json=as_json)
        finally:
            client.destroy()
    if as_json:
        emit_json({"workflow_id": workflow_id, "before": before, "status": after})
    else:
        console.print(f"{workflow_id}: {before} → {after}.", soft_wrap=True)


@workflows_app.command("retry")
def retry(
    workflow_id: WorkflowId,
    db: DbOption = None,
    as_json: JsonOption = False,
    address: AddressOption = None,
    namespace: NamespaceOption = "default",
) -> None:
    """Run a failed, cancelled or stuck workflow again from where it stopped; the next
    embedded runner on this database runs it. A cancelled one resumes under its own id; a
    failed one is forked from its failed step under a new id (its journal stays as it was).
    On Temporal (--address), it is reset to its last completed workflow task: its completed
    steps stay completed and a worker on its task queue goes on from there."""
    if address is not None:
        reset = _on_temporal(lambda: temporal_retry(address, namespace, workflow_id), as_json)
        if as_json:
            emit_json(reset)
        else:
            console.print(
                f"{workflow_id}: {reset['before']}; reset to event {reset['from_event']} as "
                f"run {reset['run_id']}, now RUNNING on its task queue.",
                soft_wrap=True,
            )
        return
    client = _with_client(db, as_json, workflow_id)
    try:
        before = _get(client, workflow_id).status
        if before == "SUCCESS":
            raise WorkflowError(
                f"workflow {workflow_id!r} already succeeded: there is nothing to retry",
                hint="start a new workflow with a new id instead",
                context={"workflow_id": workflow_id, "status": before},
            )
        if before == "ERROR":
            steps = client.list_workflow_steps(workflow_id)
            failed = [s["function_id"] for s in steps if s["error"] is not None]
            start = min(failed) if failed else len(steps) + 1
            new_id = client.fork_workflow(workflow_id, start).get_workflow_id()
        else:
            start, new_id = 0, client.resume_workflow(workflow_id).get_workflow_id()
        after = _get(client, new_id).status
    except AtomicError as exc:
        fail(exc, as_json=as_json)
    finally:
        client.destroy()
    if as_json:
        emit_json(
            {"workflow_id": workflow_id, "before": before, "retried_as": new_id, "status": after}
        )
        return
    how = f"forked from step {start} as {new_id}" if new_id != workflow_id else "resumed"
    console.print(
        f"{workflow_id}: {before}; {how}, now {after}. The next embedded runner on this "
        "database runs it.",
        soft_wrap=True,
    )
