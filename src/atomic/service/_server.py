"""Starting the service: the bind check (keys off loopback), then uvicorn with N workers."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from atomic.errors import ConfigError
from atomic.service._keys import KeyStore
from atomic.settings import AtomicSettings
from atomic.storage import Store

__all__ = ["is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def decide_keys(settings: AtomicSettings, host: str, require_keys: bool | None) -> bool:
    """Whether requests need keys: asked for, or (by default) off loopback or once keys exist.
    Off loopback without keys is refused, and so are keys required with none created."""
    store = await Store.open(settings.resolved_database_url())
    try:
        active = await KeyStore(store.engine).active_count()
    finally:
        await store.close()
    loopback = is_loopback(host)
    if require_keys is None:
        require_keys = settings.service_keys
    needed = require_keys if require_keys is not None else (not loopback or active > 0)
    if not loopback and not needed:
        raise ConfigError(
            f"binding to {host} without API keys would open the service to the network",
            hint="drop --no-keys (requests then need `Authorization: Bearer <key>`), "
            "or bind to 127.0.0.1",
            context={"host": host},
        )
    if needed and active == 0:
        raise ConfigError(
            "the service needs API keys and none exists",
            hint="create one with `atomic keys create --tenant <name>`",
            context={"host": host, "database": store.url},
        )
    return needed


def serve(settings: AtomicSettings, *, host: str, port: int, workers: int, keys: bool) -> None:
    """Run uvicorn; each worker builds its app from ``ATOMIC_*`` variables (set here)."""
    if settings.workflows and settings.workflow_runner == "embedded" and workers > 1:
        raise ConfigError(
            f"the embedded workflow runner runs in one process, and {workers} workers were "
            "asked for",
            hint="serve workflows with --workers 1, or run them on Temporal "
            "(ATOMIC_WORKFLOW_RUNNER=temporal and `atomic worker`)",
            context={"workers": workers, "workflows": settings.workflows},
        )
    if settings.workflows:  # workers import them by name (the current folder is importable)
        os.environ["ATOMIC_WORKFLOWS"] = ",".join(settings.workflows)
    os.environ["ATOMIC_SERVICE_KEYS"] = "1" if keys else "0"
    if settings.database_url:
        os.environ["ATOMIC_DATABASE_URL"] = settings.database_url
    os.environ["ATOMIC_HOME"] = str(settings.home)
    with _metrics_folder(workers):
        uvicorn.run(
            "atomic.service:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            timeout_graceful_shutdown=10,
        )


@contextmanager
def _metrics_folder(workers: int) -> Iterator[None]:
    """With several workers, each writes its metrics to a fresh shared folder that a scrape of
    any worker sums (prometheus_client's multiprocess mode); one set by the user is kept."""
    if workers <= 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="atomic-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
