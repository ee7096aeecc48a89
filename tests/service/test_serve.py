"""``atomic serve`` as a user runs it: a subprocess, its flags and settings, the bind check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from atomic._net import free_port

ATOMIC = [sys.executable, "-c", "from atomic.cli import main; main()"]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATOMIC_")}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    env["ATOMIC_HOME"] = str(home)
    env["ATOMIC_LEARNED_MODELS"] = "0"
    return env


@contextmanager
def running(args: list[str], env: dict[str, str], url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [*ATOMIC, "serve", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"atomic serve exited with {proc.returncode}:\n{out}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("atomic serve did not answer /healthz in 90 s")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_serve_takes_port_and_workers_from_flags_and_settings(tmp_path: Path) -> None:
    port = free_port()
    env = {**_env(tmp_path), "ATOMIC_SERVICE_WORKERS": "2"}
    url = f"http://127.0.0.1:{port}"
    with running(["--port", str(port)], env, url) as proc:
        ready = httpx.get(f"{url}/readyz", timeout=10)
        tasks = httpx.get(f"{url}/v1/tasks", timeout=10)
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["models"] == {"ok": True, "detail": "2 registered"}
    assert "sentiment" in {t["name"] for t in tasks.json()["tasks"]}
    assert out.count("Started server process") == 2, out


def test_readyz_is_503_without_models(tmp_path: Path) -> None:
    port = free_port()
    env = {**_env(tmp_path), "ATOMIC_LOCAL_MODELS": "[]"}
    url = f"http://127.0.0.1:{port}"
    with running(["--port", str(port)], env, url):
        ready = httpx.get(f"{url}/readyz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["models"] == {"ok": False, "detail": "no model registered"}


def test_binding_off_loopback_without_keys_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [*ATOMIC, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "needs API keys and none exists" in done.stderr
    assert "atomic keys create --tenant" in done.stderr
    no_keys = subprocess.run(
        [*ATOMIC, "serve", "--host", "0.0.0.0", "--no-keys", "--port", str(free_port())],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_keys.returncode == 2
    assert "without API keys" in no_keys.stderr


def test_once_a_key_exists_serve_requires_keys_on_loopback_too(tmp_path: Path) -> None:
    env = _env(tmp_path)
    required = subprocess.run(
        [*ATOMIC, "serve", "--port", str(free_port())],
        env={**env, "ATOMIC_SERVICE_KEYS": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert required.returncode == 2
    assert "needs API keys and none exists" in required.stderr
    created = subprocess.run(
        [*ATOMIC, "keys", "create", "--tenant", "acme", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    secret = json.loads(created.stdout)["secret"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(["--port", str(port)], env, url):
        anonymous = httpx.get(f"{url}/v1/tasks", timeout=10)
        keyed = httpx.get(f"{url}/v1/tasks", headers={"Authorization": f"Bearer {secret}"})
    assert anonymous.status_code == 401
    assert keyed.status_code == 200


def test_serve_names_a_workflow_it_cannot_serve_before_starting(tmp_path: Path) -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        command = [*ATOMIC, "serve", "--port", str(free_port()), *args]
        return subprocess.run(
            command, env=_env(tmp_path), capture_output=True, text=True, timeout=60
        )

    missing = serve("--workflows", "nope:triage")
    assert missing.returncode == 2
    assert "cannot load workflow 'nope:triage'" in missing.stderr
    assert "module:attribute" in missing.stderr
    crowded = serve("--workers", "2", "--workflows", "tests.service._flows:handle_email")
    assert crowded.returncode == 2
    assert "embedded workflow runner runs in one process" in crowded.stderr
