"""``--dashboard``: Atomic's service on loopback, in a thread of this process, next to a batch
(``atomic demo inbox --dashboard``), so the user watches the exchange learn while it runs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atomic.errors import ConfigError

if TYPE_CHECKING:
    from atomic.settings import AtomicSettings
    from atomic.tasks import Task

__all__ = ["DashboardServer", "dashboard_server"]

_START_S = 60.0


@dataclass(frozen=True)
class DashboardServer:
    url: str
    """The page's URL; with keys on, it carries a key made for this run (``#key=``)."""
    key_id: str | None


@contextmanager
def dashboard_server(
    settings: AtomicSettings, tasks: Iterable[Task[Any, Any]]
) -> Iterator[DashboardServer]:
    """Serve the dashboard on 127.0.0.1 (a free port) over the settings' database until the
    block ends. It runs no task (no model is registered): it only reads what the batch stores.
    Once API keys exist in the database the service requires them, and a key for the settings'
    tenant is made for the printed URL, and revoked when the block ends."""
    import socket

    import uvicorn

    from atomic.service import create_app

    key_id, secret = asyncio.run(_viewer_key(settings))
    app = create_app(settings, models=[], tasks=tasks, require_keys=secret is not None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", ws="none", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="atomic-dashboard", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _START_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise ConfigError(
                "the dashboard's server did not start",
                hint="run without --dashboard, or try `atomic serve` to see its error",
                context={"port": port},
            )
        time.sleep(0.02)
    # A fragment, not a query: the key never reaches a server log or a Referer header.
    url = f"http://127.0.0.1:{port}/dashboard" + (f"#key={secret}" if secret else "")
    try:
        yield DashboardServer(url=url, key_id=key_id)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        if key_id is not None:
            asyncio.run(_revoke(settings, key_id))


async def _viewer_key(settings: AtomicSettings) -> tuple[str | None, str | None]:
    """A key for the page when the database has keys (the service then requires them)."""
    from atomic.service._keys import KeyStore
    from atomic.storage import Store

    store = await Store.open(settings.resolved_database_url())
    try:
        keys = KeyStore(store.engine)
        if await keys.active_count() == 0:
            return None, None
        new = await keys.create(settings.tenant, name="atomic demo --dashboard")
        return new.key.id, new.secret
    finally:
        await store.close()


async def _revoke(settings: AtomicSettings, key_id: str) -> None:
    from atomic.service._keys import KeyStore
    from atomic.storage import Store

    store = await Store.open(settings.resolved_database_url())
    try:
        await KeyStore(store.engine).revoke(key_id)
    finally:
        await store.close()
