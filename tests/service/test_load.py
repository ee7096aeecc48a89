"""A bounded load: 2,000 requests at concurrency 64 against a real server on function models.
Every 2xx run is in the store with its attempts, and no response is a 5xx."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import httpx

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

REQUESTS = 2_000
CONCURRENCY = 64


def _request(i: int, rng: random.Random) -> tuple[str, str, dict[str, object] | None]:
    kind = rng.random()
    if kind < 0.5:
        text = rng.choice(["my card was stolen", "a bill I do not know", "hello"])
        return "POST", "/v1/tasks/triage/runs", {"input": {"text": f"{text} {i}"}}
    if kind < 0.7:
        return "POST", "/v1/tasks/facts/runs", {"input": {"text": f"ACME took {i}"}}
    if kind < 0.85:
        body = {"model": "atomic:auto", "messages": [{"role": "user", "content": f"hi {i}"}]}
        return "POST", "/v1/chat/completions", body
    if kind < 0.9:
        return "POST", "/v1/tasks/triage/runs", {"input": {"wrong": i}}  # a 422
    return "GET", "/v1/runs?limit=5", None


async def _load(url: str) -> list[tuple[int, str | None]]:
    rng = random.Random(12)
    plan = [_request(i, rng) for i in range(REQUESTS)]
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one(
            method: str, path: str, body: dict[str, object] | None
        ) -> tuple[int, str | None]:
            async with gate:
                response = await client.request(method, path, json=body)
            run_id = None
            if response.status_code < 300 and method == "POST":
                data = response.json()
                run_id = data.get("run_id") or data.get("id")
            return response.status_code, run_id

        return await asyncio.gather(*(one(*p) for p in plan))


def test_two_thousand_requests_at_concurrency_64(tmp_path: Path) -> None:
    app = create_app(
        settings_for(tmp_path), models=models(Calls()), tasks=[triage, facts, faulty], seed=0
    )
    with serve_in_thread(app) as url:
        answers = asyncio.run(_load(url))
    statuses = Counter(status for status, _ in answers)
    assert len(answers) == REQUESTS
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 422}, statuses
    run_ids = [run_id for status, run_id in answers if run_id is not None]
    assert len(run_ids) == len(set(run_ids)) > REQUESTS * 0.7

    async def stored() -> list[tuple[RunStatus, int]]:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'atomic.db'}")
        try:
            runs = [await store.get_run(r) for r in run_ids]
        finally:
            await store.close()
        return [(r.status, len(r.attempts)) for r in runs]

    for status, attempts in asyncio.run(stored()):
        assert status == RunStatus.SUCCEEDED
        assert attempts >= 1
