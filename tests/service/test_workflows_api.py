"""Workflows over HTTP against a real server: ``POST /v1/workflows/{name}`` starts one for the
caller's tenant, ``GET /v1/workflows/{id}`` reads its state, steps and output, on the embedded
runner (DBOS in the service's SQLite database) and on a real Temporal dev server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from atomic.cli import app as cli_app
from atomic.service import create_app
from atomic.workflows import DevServer
from tests.service.conftest import (
    Calls,
    facts,
    faulty,
    models,
    serve_in_thread,
    settings_for,
    triage,
)

FLOWS = "tests.service._flows"
FRAUD = "Someone used my card at ACME, this is fraud"


def _finished(client: httpx.Client, workflow_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/v1/workflows/{workflow_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["state"] != "running":
            return body
        assert time.monotonic() < deadline, f"workflow {workflow_id} still running: {body}"
        time.sleep(0.1)


def _key(db: str, tenant: str, *args: str) -> str:
    result = CliRunner().invoke(
        cli_app, ["keys", "create", "--tenant", tenant, "--json", "--db", db, *args]
    )
    assert result.exit_code == 0, result.output
    secret: str = json.loads(result.stdout)["secret"]
    return secret


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A keyed service running ``FLOWS`` on the embedded runner; yields (url, database)."""
    home: Path = tmp_path_factory.mktemp("workflows-embedded")
    settings = settings_for(home, workflows=[FLOWS])
    app = create_app(
        settings, models=models(Calls()), tasks=[triage, facts, faulty], require_keys=True
    )
    with serve_in_thread(app) as url:
        yield url, f"sqlite:///{home / 'atomic.db'}"


def test_a_started_workflow_runs_its_steps_as_the_callers_tenant(
    embedded: tuple[str, str],
) -> None:
    url, db = embedded
    alice, bob = _key(db, "alice"), _key(db, "bob")
    with (
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {alice}"}) as a,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {bob}"}) as b,
    ):
        listed = a.get("/v1/workflows").json()
        assert listed["runner"] == "embedded"
        assert [w["name"] for w in listed["workflows"]] == ["handle_email"]
        assert listed["workflows"][0]["input_schema"]["required"] == ["text"]
        # The tasks declared next to a served workflow are registered with it.
        tasks = [t["name"] for t in a.get("/v1/tasks").json()["tasks"]]
        assert "flow-note" in tasks

        started = a.post("/v1/workflows/handle_email", json={"input": {"text": FRAUD}})
        assert started.status_code == 202, started.text
        workflow_id = started.json()["workflow_id"]
        assert started.headers["location"] == f"/v1/workflows/{workflow_id}"

        done = _finished(a, workflow_id)
        assert done["state"] == "succeeded", done
        assert done["tenant"] == "alice"
        assert done["input"] == {"text": FRAUD}
        assert done["output"]["queue"] == "fraud"
        assert done["output"]["merchant"] == "ACME"
        assert [s["task"] for s in done["steps"]] == ["triage", "facts"]
        assert all(s["state"] == "succeeded" for s in done["steps"])
        run_ids = [s["run_id"] for s in done["steps"]]
        assert run_ids == done["output"]["runs"]

        # Each step is a stored run of alice's, with its auction; bob sees none of it.
        for run_id in run_ids:
            run = a.get(f"/v1/runs/{run_id}")
            assert run.status_code == 200, run.text
            assert run.json()["tenant"] == "alice"
            assert b.get(f"/v1/runs/{run_id}").status_code == 404
        hidden = b.get(f"/v1/workflows/{workflow_id}")
        assert hidden.status_code == 404
        assert hidden.headers["content-type"].startswith("application/problem+json")
        assert hidden.json()["code"] == "workflow.not_found"

    # Each step published its events: the metrics count them.
    admin = _key(db, "ops", "--admin")
    scraped = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {admin}"}).text
    for task in ("triage", "facts"):
        sample = (
            f'atomic_workflow_steps_total{{status="succeeded",task="{task}",'
            'workflow="handle_email"}'
        )
        assert sample in scraped, scraped


def test_a_repeated_start_with_one_idempotency_key_starts_one_workflow(
    embedded: tuple[str, str],
) -> None:
    url, db = embedded
    headers = {"Authorization": f"Bearer {_key(db, 'carol')}", "Idempotency-Key": "wf-once"}
    with httpx.Client(base_url=url, headers=headers) as client:
        first = client.post("/v1/workflows/handle_email", json={"input": {"text": "a bill"}})
        again = client.post("/v1/workflows/handle_email", json={"input": {"text": "a bill"}})
        assert first.status_code == again.status_code == 202
        assert first.json()["workflow_id"] == again.json()["workflow_id"]
        assert _finished(client, first.json()["workflow_id"])["output"]["queue"] == "billing"


def test_bad_workflow_requests_are_problems_that_say_what_to_do(
    embedded: tuple[str, str],
) -> None:
    url, db = embedded
    headers = {"Authorization": f"Bearer {_key(db, 'dave')}"}
    with httpx.Client(base_url=url, headers=headers) as client:
        unknown = client.post("/v1/workflows/nope", json={"input": {"text": "x"}})
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "workflow.not_found"
        assert "handle_email" in unknown.json()["hint"]

        invalid = client.post("/v1/workflows/handle_email", json={"input": {"body": "x"}})
        assert invalid.status_code == 422
        assert invalid.json()["code"] == "task.input_invalid"
        assert invalid.json()["context"]["workflow"] == "handle_email"

        missing = client.get("/v1/workflows/no-such-id")
        assert missing.status_code == 404
        assert missing.json()["code"] == "workflow.not_found"


def test_without_workflows_the_service_says_how_to_serve_them(
    tmp_path: Path,
) -> None:
    app = create_app(settings_for(tmp_path), models=models(Calls()), tasks=[triage, facts])
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/v1/workflows").json() == {"runner": "none", "workflows": []}
        refused = client.post("/v1/workflows/handle_email", json={"input": {"text": "x"}})
        assert refused.status_code == 404
        assert "ATOMIC_WORKFLOWS" in refused.json()["hint"]


def test_workflows_run_on_temporal_when_the_settings_say_so(
    tmp_path: Path, temporal_server: DevServer
) -> None:
    settings = settings_for(
        tmp_path,
        workflows=[f"{FLOWS}:handle_email"],
        workflow_runner="temporal",
        temporal_address=temporal_server.address,
        temporal_task_queue="service-workflows",
    )
    app = create_app(settings, models=models(Calls()), tasks=[triage, facts])
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/v1/workflows").json()["runner"] == "temporal"
        started = client.post("/v1/workflows/handle_email", json={"input": {"text": FRAUD}})
        assert started.status_code == 202, started.text
        done = _finished(client, started.json()["workflow_id"])
        assert done["runner"] == "temporal"
        assert done["state"] == "succeeded", done
        assert done["tenant"] == "default"
        assert done["output"]["queue"] == "fraud"
        assert [s["task"] for s in done["steps"]] == ["triage", "facts"]
        for run_id in (s["run_id"] for s in done["steps"]):
            assert client.get(f"/v1/runs/{run_id}").json()["status"] == "succeeded"
