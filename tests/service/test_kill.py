"""SIGKILL the server in the middle of a load, then restart it: every acknowledged run is in
the store, whole; the runs that were in flight are ``abandoned``; none is left half-written."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from atomic._net import free_port
from atomic.storage import RunStatus, Store

SERVER = Path(__file__).with_name("_slow_server.py")


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[2] / "src"), env.get("PYTHONPATH", "")]
    )
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), str(home), str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the slow server did not start")
        time.sleep(0.1)


async def _load(url: str, acknowledged: list[str], sent: list[int], enough: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(i: int) -> None:
            sent.append(i)
            try:
                response = await client.post(
                    "/v1/tasks/triage/runs", json={"input": {"text": f"kill {i}"}}
                )
            except httpx.TransportError:
                return  # the server died under it
            if response.status_code == 200:
                acknowledged.append(response.json()["run_id"])
                if len(acknowledged) >= 20:
                    enough.set()

        async def stream() -> None:
            tasks = []
            for i in range(400):
                tasks.append(asyncio.create_task(one(i)))
                await asyncio.sleep(0.01)
            await asyncio.gather(*tasks)

        await stream()


def test_a_killed_server_leaves_whole_runs_and_abandoned_ones(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, port)
    acknowledged: list[str] = []
    sent: list[int] = []

    async def load_then_kill() -> None:
        enough = asyncio.Event()
        load = asyncio.create_task(_load(f"http://127.0.0.1:{port}", acknowledged, sent, enough))
        await enough.wait()
        os.kill(proc.pid, signal.SIGKILL)
        await load

    try:
        asyncio.run(load_then_kill())
    finally:
        proc.kill()
        proc.wait(timeout=30)
    time.sleep(1.5)  # past the leases (1 s) of the runs in flight
    restarted = _start(tmp_path, port)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)

    async def stored() -> list[tuple[str, RunStatus, int, object, bool]]:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'atomic.db'}")
        try:
            runs = await store.list_runs(limit=10_000)
            whole = []
            for summary in runs:
                run = await store.get_run(summary.id)
                auction = await store.get_auction(run.id)
                whole.append((run.id, run.status, len(run.attempts), run.output, bool(auction)))
            return whole
        finally:
            await store.close()

    runs = {r[0]: r for r in asyncio.run(stored())}
    assert set(acknowledged) <= set(runs)
    for run_id in acknowledged:
        _, status, attempts, output, has_auction = runs[run_id]
        assert status == RunStatus.SUCCEEDED
        assert attempts == 1
        assert output == "other"
        assert has_auction
    statuses = {r[1] for r in runs.values()}
    assert RunStatus.RUNNING not in statuses
    assert statuses <= {RunStatus.SUCCEEDED, RunStatus.ABANDONED}
    assert RunStatus.ABANDONED in statuses
    assert len(sent) > len(acknowledged)
