"""``/metrics`` scraped and parsed after runs through the API; its numbers match the store's, on
one process and on ``atomic serve --workers 2`` (prometheus_client's multiprocess mode)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from atomic._net import free_port
from atomic.service import create_app
from tests.fixtures.openai_server import PEER_COST_USD, ErrorPeer
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


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def _store_runs(client: httpx.Client) -> list[dict[str, object]]:
    runs = client.get("/v1/runs", params={"limit": 500})
    assert runs.status_code == 200, runs.text
    listed: list[dict[str, object]] = runs.json()["runs"]
    return listed


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("metrics")
    app = create_app(
        settings_for(home), models=models(Calls()), tasks=[triage, facts, faulty], seed=0
    )
    with serve_in_thread(app) as base:
        yield base


def test_metrics_count_the_runs_and_cost_the_store_holds(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for text in ("my bill is wrong", "my card was stolen", "hello"):
            made = client.post("/v1/tasks/triage/runs", json={"input": {"text": text}})
            assert made.status_code == 200, made.text
        for _ in range(2):
            paid = client.post(
                "/v1/tasks/triage/runs", json={"input": {"text": "a charge"}, "model": "backup:any"}
            )
            assert paid.status_code == 200, paid.text
        scraped = client.get("/metrics")
        stored = _store_runs(client)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    runs = _samples(scraped.text, "atomic_runs_total")
    by_model: dict[str, float] = {}
    for labels, value in runs:
        assert labels["status"] == "succeeded"
        assert labels["task"] == "triage"
        by_model[labels["model"]] = by_model.get(labels["model"], 0) + value
    expected: dict[str, float] = {}
    for run in stored:
        expected[str(run["model_id"])] = expected.get(str(run["model_id"]), 0) + 1
    assert by_model == expected
    assert sum(by_model.values()) == 5
    cost = sum(value for _, value in _samples(scraped.text, "atomic_cost_usd_total"))
    assert cost == pytest.approx(sum(float(str(r["cost_usd"])) for r in stored))
    assert cost == pytest.approx(0.002)


def test_metrics_of_several_workers_add_up(tmp_path: Path, error_peer: ErrorPeer) -> None:
    port = free_port()
    env = {
        **_env(tmp_path),
        "ATOMIC_LOCAL_MODELS": "[]",
        "ATOMIC_OPENAI_BASE_URL": error_peer.url("priced"),
        "ATOMIC_OPENAI_MODELS": "peer",
        "ATOMIC_OPENAI_API_KEY": "unused",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    base = f"http://127.0.0.1:{port}"
    body = {"model": "atomic:auto", "messages": [{"role": "user", "content": "hi"}]}
    made = 8
    with running(["--port", str(port), "--workers", "2"], env, base):
        # Fresh connections, so the kernel spreads the requests over both workers.
        for _ in range(made):
            answer = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=30)
            assert answer.status_code == 200, answer.text
        with httpx.Client(base_url=base, timeout=30) as client:
            stored = _store_runs(client)
            # Every scrape, whichever worker answers it, sums both workers' samples.
            scrapes = [httpx.get(f"{base}/metrics", timeout=30).text for _ in range(4)]
    assert len(stored) == made
    for text in scrapes:
        runs = _samples(text, "atomic_runs_total")
        assert sum(value for _, value in runs) == made, runs
        cost = sum(value for _, value in _samples(text, "atomic_cost_usd_total"))
        assert cost == pytest.approx(made * PEER_COST_USD)
