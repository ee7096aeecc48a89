"""``atomic demo inbox``, the main job, on the real local models: on the embedded runner and on
Temporal, each with a throwaway database, as a user would run it."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atomic.apps.inbox import STEP_NAMES, load_emails
from atomic.cli import app

RUN_ID = re.compile(r"atomic explain (run_[0-9a-f]+)")


@pytest.fixture
def cli(tmp_path: Path, model_home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ATOMIC_HOME", str(model_home))
    monkeypatch.setenv("ATOMIC_DATABASE_URL", f"sqlite:///{tmp_path / 'inbox.db'}")
    monkeypatch.delenv("ATOMIC_LOCAL_MODELS", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    return CliRunner()


@pytest.mark.llm
@pytest.mark.parametrize(("runner", "emails"), [("embedded", 2), ("temporal", 1)])
def test_demo_inbox_handles_emails_on_the_local_models_and_scores_each_step(
    cli: CliRunner, runner: str, emails: int
) -> None:
    result = cli.invoke(app, ["demo", "inbox", "--runner", runner, "--limit", str(emails)])
    assert result.exit_code == 0, result.output
    shown = result.stdout
    assert f"{emails} emails on the {runner} runner" in shown
    for name in STEP_NAMES:
        assert re.search(rf"(?m)^{name}\s", shown), name  # every step's row, at 80 columns
    for line in shown.splitlines():  # a line wider than the screen holds one unbreakable word
        assert len(line.rstrip()) <= 80 or len(line.split()) == 1, line
    assert "rules:inbox-router 100%" in shown
    assert f"{emails} emails ({emails} handwritten, 0 from Banking77)" in shown
    assert "emails per minute" in shown
    if runner == "temporal":
        assert "Started a Temporal dev server at 127.0.0.1:" in shown

    # Every email's intent was a stored run with an auction behind it.
    run_id = RUN_ID.search(shown)
    assert run_id is not None, shown
    explained = cli.invoke(app, ["explain", run_id.group(1)])
    assert explained.exit_code == 0, explained.output
    assert "won" in explained.stdout
    listed = cli.invoke(app, ["runs", "--json", "--limit", "50"])
    tasks = [run["task_name"] for run in json.loads(listed.stdout)]
    assert tasks.count("route") == emails
    assert tasks.count("banking77-intent") == emails
    assert load_emails()[0].email.id in shown  # the email the explain hint names
