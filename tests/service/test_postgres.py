"""Two service replicas on one PostgreSQL database: idempotency, keys and tenants hold across
them, and a concurrent load leaves every acknowledged run stored."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from atomic.cli import app as cli_app
from atomic.service import create_app
from atomic.storage import RunStatus, Store
from tests.service.conftest import (
    Calls,
    facts,
    faulty,
    models,
    serve_in_thread,
    settings_for,
    triage,
)

pytestmark = pytest.mark.postgres


def test_two_replicas_on_one_postgres(fresh_postgres_url: str, tmp_path: Path) -> None:
    calls = Calls()

    def replica(name: str) -> FastAPI:
        settings = settings_for(tmp_path / name, database_url=fresh_postgres_url)
        return create_app(
            settings, models=models(calls), tasks=[triage, facts, faulty], require_keys=True
        )

    created = CliRunner().invoke(
        cli_app, ["keys", "create", "--tenant", "acme", "--json", "--db", fresh_postgres_url]
    )
    assert created.exit_code == 0, created.output
    other = CliRunner().invoke(
        cli_app, ["keys", "create", "--tenant", "rival", "--json", "--db", fresh_postgres_url]
    )
    acme = {"Authorization": f"Bearer {json.loads(created.stdout)['secret']}"}
    rival = {"Authorization": f"Bearer {json.loads(other.stdout)['secret']}"}

    with serve_in_thread(replica("a")) as url_a, serve_in_thread(replica("b")) as url_b:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"input": {"text": "a bill"}}
        first = httpx.post(f"{url_a}/v1/tasks/triage/runs", json=body, headers={**acme, **key})
        before = calls.total()
        again = httpx.post(f"{url_b}/v1/tasks/triage/runs", json=body, headers={**acme, **key})
        assert first.status_code == again.status_code == 200, first.text
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert calls.total() == before
        run_id = first.json()["run_id"]
        assert httpx.get(f"{url_b}/v1/runs/{run_id}", headers=acme).status_code == 200
        assert httpx.get(f"{url_b}/v1/runs/{run_id}", headers=rival).status_code == 404

        async def load() -> list[tuple[int, str | None]]:
            async with httpx.AsyncClient(headers=acme, timeout=60) as client:
                gate = asyncio.Semaphore(16)

                async def one(i: int) -> tuple[int, str | None]:
                    url = url_a if i % 2 else url_b
                    async with gate:
                        r = await client.post(
                            f"{url}/v1/tasks/facts/runs", json={"input": {"text": f"ACME {i}"}}
                        )
                    return r.status_code, r.json().get("run_id") if r.status_code == 200 else None

                return await asyncio.gather(*(one(i) for i in range(200)))

        answers = asyncio.run(load())

    statuses = Counter(s for s, _ in answers)
    assert statuses == {200: 200}, statuses

    async def stored() -> list[RunStatus]:
        store = await Store.open(fresh_postgres_url)
        try:
            return [(await store.get_run(r, tenant="acme")).status for _, r in answers if r]
        finally:
            await store.close()

    assert set(asyncio.run(stored())) == {RunStatus.SUCCEEDED}
