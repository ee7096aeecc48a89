"""``atomic workflows list | show | cancel | retry`` on the embedded runner's real journal."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from typer.testing import CliRunner

from atomic import Atomic, FunctionModel
from atomic.cli import app
from atomic.errors import InvalidRequestError, WorkflowError
from atomic.models import ModelRequest
from atomic.settings import load_settings
from atomic.workflows import EmbeddedRunner, TemporalRunner
from tests.workflows.crash_worker import Note, shout, three_shouts


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in list(os.environ):
        if name.startswith("ATOMIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ATOMIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ATOMIC_DATABASE_URL", f"sqlite:///{tmp_path / 'atomic.db'}")
    monkeypatch.setenv("ATOMIC_LOCAL_MODELS", "")
    monkeypatch.setenv("ATOMIC_LEARNED_MODELS", "0")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def _shout(request: ModelRequest) -> dict[str, str]:
    text = str((request.task_input or {})["text"])
    if text.startswith("fail"):
        raise InvalidRequestError("refused", model_id="fn:workflow-shouter-with-a-long-id")
    return {"text": text.upper()}


def test_workflows_are_listed_shown_and_retried(cli: CliRunner) -> None:
    assert "No workflows yet." in cli.invoke(app, ["workflows", "list"]).stdout

    async def run_two() -> None:
        model = FunctionModel(_shout, id="fn:workflow-shouter-with-a-long-id")
        opened = await Atomic.open(load_settings(), models=[model], tasks=[shout])
        async with opened as atomic, EmbeddedRunner(atomic, [three_shouts]) as runner:
            await runner.run(three_shouts, Note(text="hi"), workflow_id="wf-ok-0123456789")
            with pytest.raises(InvalidRequestError):
                await runner.run(three_shouts, Note(text="fail"), workflow_id="wf-bad-0123")

    asyncio.run(run_two())

    listed = cli.invoke(app, ["workflows", "list"])
    assert listed.exit_code == 0, listed.output
    words = listed.stdout.split()
    assert {"wf-ok-0123456789", "wf-bad-0123", "SUCCESS", "ERROR"} <= set(words)
    assert all(len(line) <= 80 for line in listed.stdout.splitlines())
    as_json = json.loads(cli.invoke(app, ["workflows", "list", "--json"]).stdout)
    assert {w["workflow_id"]: w["status"] for w in as_json} == {
        "wf-ok-0123456789": "SUCCESS",
        "wf-bad-0123": "ERROR",
    }
    failed = cli.invoke(app, ["workflows", "list", "--status", "error", "--json"])
    assert [w["workflow_id"] for w in json.loads(failed.stdout)] == ["wf-bad-0123"]

    shown = json.loads(cli.invoke(app, ["workflows", "show", "wf-ok-0123456789", "--json"]).stdout)
    assert [s["name"] for s in shown["steps"]] == ["shout"] * 3
    table = cli.invoke(app, ["workflows", "show", "wf-bad-0123"])
    assert "InvalidRequestError" in table.stdout

    done = cli.invoke(app, ["workflows", "retry", "wf-ok-0123456789"])
    assert done.exit_code == 1
    assert "already succeeded" in done.stderr
    retried = json.loads(cli.invoke(app, ["workflows", "retry", "wf-bad-0123", "--json"]).stdout)
    assert (retried["before"], retried["status"]) == ("ERROR", "ENQUEUED")
    fork = retried["retried_as"]
    assert fork != "wf-bad-0123"
    cancelled = json.loads(cli.invoke(app, ["workflows", "cancel", fork, "--json"]).stdout)
    assert (cancelled["before"], cancelled["status"]) == ("ENQUEUED", "CANCELLED")
    resumed = json.loads(cli.invoke(app, ["workflows", "retry", fork, "--json"]).stdout)
    assert (resumed["retried_as"], resumed["status"]) == (fork, "ENQUEUED")

    missing = cli.invoke(app, ["workflows", "show", "wf-nope"])
    assert missing.exit_code == 3
    assert "no workflow 'wf-nope'" in missing.stderr


async def test_temporal_workflows_are_listed_shown_retried_and_cancelled(
    cli: CliRunner, temporal_client: Client, temporal_address: str, tmp_path: Path
) -> None:
    from tests.workflows.test_temporal import FAST, chain, echo, queue

    def refuses(request: ModelRequest) -> dict[str, str]:
        raise InvalidRequestError("prompt rejected", model_id="fn:refuses", status=400)

    settings = load_settings(local_models=[], learned_models=False)
    model = FunctionModel(refuses, id="fn:refuses")
    workflow_id = f"cli-refused-{uuid.uuid4().hex[:8]}"
    async with await Atomic.open(settings, models=[model], tasks=[echo]) as atomic:
        runner = TemporalRunner(
            atomic, temporal_client, task_queue=queue(), workflows=[chain], step_options=FAST
        )
        async with runner:
            with pytest.raises(WorkflowError):
                await runner.run(chain, {"text": "x"}, workflow_id=workflow_id)

    listed = await asyncio.to_thread(
        cli.invoke, app, ["workflows", "list", "--status", "failed", "--address", temporal_address]
    )
    assert listed.exit_code == 0, listed.output
    assert workflow_id in listed.stdout.split()
    shown = await asyncio.to_thread(
        cli.invoke, app, ["workflows", "show", workflow_id, "--address", temporal_address, "--json"]
    )
    data = json.loads(shown.stdout)
    assert data["status"] == "FAILED"
    assert data["steps"][0]["error"]
    retried = await asyncio.to_thread(
        cli.invoke,
        app,
        ["workflows", "retry", workflow_id, "--address", temporal_address, "--json"],
    )
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["before"] == "FAILED"
    cancelled = await asyncio.to_thread(
        cli.invoke,
        app,
        ["workflows", "cancel", workflow_id, "--address", temporal_address, "--json"],
    )
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["status"] == "CANCEL_REQUESTED"
    missing = await asyncio.to_thread(
        cli.invoke, app, ["workflows", "show", "nope-123", "--address", temporal_address]
    )
    assert missing.exit_code == 3
