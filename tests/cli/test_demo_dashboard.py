"""``atomic demo inbox --dashboard``: the dashboard's server starts next to the batch, its URL
answers (with a key when the database has keys), and it stops with the batch."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from atomic.apps.inbox import INBOX_TASKS
from atomic.cli import app
from atomic.cli._dashboard import dashboard_server
from atomic.service._keys import KeyStore
from atomic.settings import AtomicSettings
from atomic.storage import Store


def _settings(home: Path) -> AtomicSettings:
    return AtomicSettings(home=home, learned_models=False, local_models=[])


def test_the_dashboard_serves_the_inbox_tasks_without_a_key_on_loopback(tmp_path: Path) -> None:
    with dashboard_server(_settings(tmp_path), INBOX_TASKS) as served:
        assert served.url.endswith("/dashboard")
        assert served.key_id is None
        page = httpx.get(served.url, timeout=30)
        overview = httpx.get(served.url.replace("/dashboard", "/v1/dashboard/overview"), timeout=30)
    assert page.status_code == 200
    assert "Live tape of auctions" in page.text
    assert {task.name for task in INBOX_TASKS} <= set(overview.json()["tasks"])
    with pytest.raises(httpx.TransportError):
        httpx.get(served.url, timeout=5)


async def _keys(settings: AtomicSettings, create: bool) -> int:
    store = await Store.open(settings.resolved_database_url())
    try:
        keys = KeyStore(store.engine)
        if create:
            await keys.create("acme")
        return await keys.active_count()
    finally:
        await store.close()


def test_with_keys_in_the_database_the_url_carries_a_key_revoked_after(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    asyncio.run(_keys(settings, create=True))
    with dashboard_server(settings, INBOX_TASKS) as served:
        match = re.search(r"#key=(\S+)$", served.url)
        assert match is not None, served.url
        overview = served.url.split("/dashboard")[0] + "/v1/dashboard/overview"
        keyed = httpx.get(overview, headers={"Authorization": f"Bearer {match[1]}"}, timeout=30)
        bare = httpx.get(overview, timeout=30)
    assert keyed.status_code == 200
    assert keyed.json()["tenant"] == settings.tenant
    assert bare.status_code == 401
    assert asyncio.run(_keys(settings, create=False)) == 1


def test_demo_inbox_prints_the_dashboard_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No LLM: without local models only the inbox's rules models bid, which is enough to see
    # the flag start the server, print its URL and stop it with the batch.
    monkeypatch.setenv("ATOMIC_HOME", str(tmp_path))
    monkeypatch.setenv("ATOMIC_LOCAL_MODELS", "[]")
    monkeypatch.setenv("ATOMIC_LEARNED_MODELS", "0")
    monkeypatch.setenv("COLUMNS", "200")
    args = ["demo", "inbox", "--dashboard", "--limit", "1", "--runner", "direct"]
    result = CliRunner().invoke(app, [*args, "--seed-per-intent", "0"])
    assert result.exit_code == 0, result.output
    url = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+/dashboard)", result.stdout)
    assert url is not None, result.stdout
    assert "1 emails on the direct runner" in result.stdout
    assert "The dashboard stopped with the batch" in result.stdout


def test_dashboard_goes_with_the_inbox_demo_only() -> None:
    result = CliRunner().invoke(app, ["demo", "--dashboard"])
    assert result.exit_code == 2
    assert "--dashboard goes with `atomic demo inbox`" in result.output
