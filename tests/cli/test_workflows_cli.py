"""``atomic workflows list | show | cancel | retry`` on the embedded runner's real journal."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atomic import Atomic, FunctionModel
from atomic.cli import app
from atomic.errors import InvalidRequestError
from atomic.models import ModelRequest
from atomic.settings import load_settings
from atomic.workflows import EmbeddedRunner
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
