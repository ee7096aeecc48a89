"""``atomic feedback`` and ``atomic task``: adaptation by hand, on the local SmolLM2 model."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atomic.cli import app

SMOLLM2 = "llamacpp:smollm2-135m-instruct"


@pytest.fixture
def cli(tmp_path: Path, model_home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ATOMIC_HOME", str(model_home))
    monkeypatch.setenv("ATOMIC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("ATOMIC_LOCAL_MODELS", json.dumps([SMOLLM2]))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def _run(cli: CliRunner, text: str) -> dict[str, object]:
    result = cli.invoke(app, ["run", "sentiment", "--input", text, "--model", SMOLLM2, "--json"])
    assert result.exit_code == 0, result.output
    body: dict[str, object] = json.loads(result.output)
    return body


def test_feedback_on_a_local_model_reaches_its_next_prompt(cli: CliRunner) -> None:
    first = _run(cli, "The transfer failed twice and nobody answers my emails.")
    wrong = "positive" if first["output"] != "positive" else "neutral"

    rejected = cli.invoke(app, ["feedback", str(first["run_id"]), "--corrected", "furious"])
    assert rejected.exit_code == 2
    assert "not a valid sentiment output" in rejected.output
    assert "'positive', 'neutral' or 'negative'" in rejected.output

    given = cli.invoke(app, ["feedback", str(first["run_id"]), "--corrected", wrong])
    assert given.exit_code == 0, given.output
    assert "corrected feedback" in given.output

    second = _run(cli, "The transfer failed again and nobody answers.")
    shown = json.loads(cli.invoke(app, ["show", str(second["run_id"]), "--json"]).output)
    prompt = json.loads(shown["attempts"][0]["prompt"])
    demo = "The transfer failed twice and nobody answers my emails."
    assert any(demo in m["content"] for m in prompt if m["role"] == "user")
    assert {"role": "assistant", "content": json.dumps({"label": wrong})} in prompt

    explained = cli.invoke(app, ["explain", str(second["run_id"])])
    assert explained.exit_code == 0, explained.output
    assert "Remembered examples in the prompt" in explained.output
    assert wrong in explained.output

    status = json.loads(cli.invoke(app, ["task", "show", "sentiment", "--json"]).output)
    assert status["memory_size"] == 1
    assert status["memory_by_source"] == {"human": 1}
    assert status["win_shares"] == {SMOLLM2: 2}
    assert status["classifier"]["trained"] is False

    table = cli.invoke(app, ["task", "show", "sentiment"])
    assert "1 of 5,000 examples (1 human)" in table.output
    assert "not trained yet" in table.output


def test_task_freeze_and_reset(cli: CliRunner) -> None:
    run = _run(cli, "Thanks, the card works now!")
    assert cli.invoke(app, ["task", "freeze", "sentiment"]).exit_code == 0
    frozen = cli.invoke(
        app, ["feedback", str(run["run_id"]), "--correct", "--source", "ground_truth"]
    )
    assert "sentiment is frozen" in frozen.output
    assert "memory and classifier were left" in " ".join(frozen.output.split())
    status = json.loads(cli.invoke(app, ["task", "show", "sentiment", "--json"]).output)
    assert (status["frozen"], status["memory_size"]) == (True, 0)

    assert cli.invoke(app, ["task", "unfreeze", "sentiment"]).exit_code == 0
    again = cli.invoke(app, ["feedback", str(run["run_id"]), "--score", "0.9", "--id", "fb-1"])
    assert again.exit_code == 0, again.output
    status = json.loads(cli.invoke(app, ["task", "show", "sentiment", "--json"]).output)
    assert (status["frozen"], status["memory_size"]) == (False, 1)

    refused = cli.invoke(app, ["task", "reset", "sentiment"], input="n\n")
    assert refused.exit_code == 1
    assert "Nothing was reset" in refused.output
    unanswered = cli.invoke(app, ["task", "reset", "sentiment"])  # a script without --yes
    assert unanswered.exit_code != 0
    confirmed = cli.invoke(app, ["task", "reset", "sentiment"], input="y\n")
    assert "1 remembered examples dropped" in confirmed.output
    again = cli.invoke(app, ["task", "reset", "sentiment", "--yes"])
    assert "0 remembered examples dropped" in again.output
    missing = cli.invoke(app, ["task", "show", "sentimant"])
    assert missing.exit_code == 3
    assert "sentiment" in missing.output  # the error suggests the right name


def test_feedback_needs_exactly_one_verdict(cli: CliRunner) -> None:
    none = cli.invoke(app, ["feedback", "run_x"])
    assert none.exit_code == 2
    assert "exactly one of" in none.output
    both = cli.invoke(app, ["feedback", "run_x", "--correct", "--score", "1"])
    assert both.exit_code == 2
    missing = cli.invoke(app, ["feedback", "run_nope", "--correct"])
    assert missing.exit_code == 3
    assert "no run 'run_nope'" in missing.output
