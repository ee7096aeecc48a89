"""The dashboard's JSON and its live feed over plain HTTP: the numbers of each panel after runs
and feedback, the SSE feed delivering a new run, budgets, what-if, and the message when the
chart library is missing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from atomic._net import free_port
from atomic.exchange import Budget
from atomic.service import create_app
from tests.fixtures.openai_server import ErrorPeer
from tests.service.conftest import (
    Calls,
    facts,
    faulty,
    models,
    serve_in_thread,
    settings_for,
    triage,
)
from tests.service.test_serve import _env, running


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("dashboard-data")
    # An empty assets folder: the chart library is "missing" for this server.
    settings = settings_for(home, dashboard_assets=home / "no-node-modules")
    app = create_app(settings, models=models(Calls()), tasks=[triage, facts, faulty], seed=0)
    with serve_in_thread(app) as base:
        app.state.atomic.exchange.configure("triage", budget=Budget(amount_usd=1.0))
        yield base


def _run(client: httpx.Client, text: str, **options: object) -> str:
    made = client.post("/v1/tasks/triage/runs", json={"input": {"text": text}, **options})
    assert made.status_code == 200, made.text
    run_id: str = made.json()["run_id"]
    return run_id


def test_panels_count_runs_feedback_cost_and_budget(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        # Pinned: the exchange explores, and the numbers below count rules:triage's runs.
        right = _run(client, "my bill", model="rules:triage")
        wrong = _run(client, "a stolen card", model="rules:triage")
        _run(client, "a charge", model="backup:any")
        for run_id, kind in ((right, "correct"), (wrong, "incorrect")):
            fed = client.post(f"/v1/runs/{run_id}/feedback", json={"kind": kind})
            assert fed.status_code == 200, fed.text
        stats = client.get("/v1/dashboard/stats", params={"window_s": 3600}).json()
        learning = client.get("/v1/dashboard/learning", params={"task": "triage"}).json()
        budgets = client.get("/v1/dashboard/budgets").json()
        whatif = client.get(
            "/v1/dashboard/whatif", params={"task": "triage", "objective": "utility", "value": 1}
        )
        explained = client.get(f"/v1/dashboard/runs/{right}").json()
    rows = {(r["task"], r["model"]): r for r in stats["rows"]}
    rules, backup = rows[("triage", "rules:triage")], rows[("triage", "backup:any")]
    assert (rules["runs"], rules["feedback"], rules["correctness"]) == (2, 2, 0.5)
    assert rules["win_share"] == pytest.approx(2 / 3)
    assert (backup["runs"], backup["mean_cost_usd"], backup["validity"]) == (1, 0.001, 1.0)
    assert learning["series"]["expensive"] == "backup:any"
    assert learning["series"]["correctness"][-1] == 0.5
    [budget] = budgets["budgets"]
    assert budget["task"] == "triage"
    assert budget["spent_usd"] == pytest.approx(0.001)
    assert budget["budget_usd"] == 1.0
    assert whatif.status_code == 200, whatif.text
    assert whatif.json()["runs"] == 3
    assert whatif.json()["judged"] == 2
    assert right in explained["explanation"]
    assert "Bids" in explained["explanation"]
    assert explained["entry"]["winner"] == "rules:triage"


async def test_the_feed_sends_a_new_run_within_a_second_or_so(url: str) -> None:
    received: list[str] = []

    async def listen(response: httpx.Response) -> None:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                received.append(json.loads(line[5:])["run_id"])

    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("GET", "/v1/dashboard/feed", params={"backlog": 0}) as response,
    ):
        assert response.status_code == 200
        listener = asyncio.create_task(listen(response))
        made = await client.post("/v1/tasks/triage/runs", json={"input": {"text": "a charge"}})
        assert made.status_code == 200, made.text
        run_id = made.json()["run_id"]
        answered = time.monotonic()
        while run_id not in received:
            assert time.monotonic() - answered < 30, f"the feed never sent {run_id}: {received}"
            assert not listener.done(), "the feed ended"
            await asyncio.sleep(0.02)
        print(f"the feed sent the run {time.monotonic() - answered:.2f} s after the API answered")
        # Leaving the stream closes the connection, so the server's feed ends before shutdown.
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


def test_a_missing_chart_library_says_what_to_do(url: str) -> None:
    missing = httpx.get(f"{url}/dashboard/vendor/uPlot.iife.min.js", timeout=30)
    page = httpx.get(f"{url}/dashboard", timeout=30)
    assert missing.status_code == 404
    assert missing.json()["code"] == "dashboard.chart_library_missing"
    assert "scripts/setup" in missing.json()["hint"]
    assert page.status_code == 200
    assert "Charts are off" in page.text


def test_an_unknown_objective_is_a_422(url: str) -> None:
    answer = httpx.get(
        f"{url}/v1/dashboard/whatif", params={"task": "triage", "objective": "cheapest"}, timeout=30
    )
    assert answer.status_code == 422


def test_among_free_local_models_the_dearest_is_the_slowest() -> None:
    from datetime import timedelta

    from atomic.service._dashboard_data import PanelRun, learning
    from atomic.storage import utcnow

    now = utcnow()

    def run(i: int, model: str, cost: float, latency: float) -> PanelRun:
        at = now + timedelta(seconds=i)
        return PanelRun(f"run_{i}", "t", "succeeded", model, cost, latency, at, at, {}, None)

    free = learning([run(0, "llm", 0.0, 9000), run(1, "classifier", 1e-7, 5)])
    paid = learning([run(0, "llm", 0.002, 900), run(1, "cheap", 0.0001, 5000)])
    assert (free["expensive"], free["expensive_by"]) == ("llm", "latency")
    assert (paid["expensive"], paid["expensive_by"]) == ("llm", "cost")
    assert free["expensive_share"] == [1.0, 0.0]


async def test_the_feed_of_one_worker_sends_the_runs_of_every_worker(
    tmp_path: Path, error_peer: ErrorPeer
) -> None:
    # The feed reads the store, not its own process's events: under `atomic serve --workers 2`
    # the worker holding the page's connection still sends the runs the other worker served.
    port = free_port()
    env = {
        **_env(tmp_path),
        "ATOMIC_LOCAL_MODELS": "[]",
        "ATOMIC_OPENAI_BASE_URL": error_peer.url("priced"),
        "ATOMIC_OPENAI_MODELS": "peer",
        "ATOMIC_OPENAI_API_KEY": "unused",
    }
    base = f"http://127.0.0.1:{port}"
    body = {"model": "atomic:auto", "messages": [{"role": "user", "content": "hi"}]}
    received: list[str] = []

    async def listen(response: httpx.Response) -> None:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                received.append(json.loads(line[5:])["run_id"])

    with running(["--port", str(port), "--workers", "2"], env, base):
        async with (
            httpx.AsyncClient(base_url=base, timeout=30) as client,
            client.stream("GET", "/v1/dashboard/feed", params={"backlog": 0}) as response,
        ):
            assert response.status_code == 200
            listener = asyncio.create_task(listen(response))
            made = []
            for _ in range(8):
                # A fresh connection each time, so the kernel spreads them over both workers.
                async with httpx.AsyncClient(base_url=base, timeout=30) as fresh:
                    answer = await fresh.post("/v1/chat/completions", json=body)
                assert answer.status_code == 200, answer.text
                made.append(answer.json()["id"])
            deadline = time.monotonic() + 30
            while not set(made) <= set(received):
                assert time.monotonic() < deadline, f"sent {received}, made {made}"
                assert not listener.done(), "the feed ended"
                await asyncio.sleep(0.05)
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
    assert len(set(received)) == len(received)  # each run once
