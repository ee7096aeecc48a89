"""The ``atomic`` command, run in-process as a user would type it."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atomic.cli import app
from atomic.tasks._builtin import BANKING77_INTENTS, TransactionFacts

SMOLLM2 = "llamacpp:smollm2-135m-instruct"
GEMMA = "llamacpp:gemma-3-270m"


@pytest.fixture
def cli(tmp_path: Path, model_home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ATOMIC_HOME", str(model_home))
    monkeypatch.setenv("ATOMIC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("ATOMIC_LOCAL_MODELS", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when not on a terminal
    return CliRunner()


def test_help_lists_every_command(cli: CliRunner) -> None:
    result = cli.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("models", "tasks", "run", "runs", "show", "demo"):
        assert command in result.output


def test_models_lists_the_local_cards(cli: CliRunner) -> None:
    result = cli.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    cards = {c["id"]: c for c in json.loads(result.stdout)}
    assert set(cards) >= {SMOLLM2}
    assert cards[SMOLLM2]["residency"] == "local"
    assert "grammar" in cards[SMOLLM2]["strategies"]
    learned = cards["learned:banking77-intent"]
    assert learned["tasks"] == ["banking77-intent"]
    assert learned["price"]["per_call"] < 1e-6


def test_missing_task_is_a_clear_error(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", "sentimant", "--input", "hello"])
    assert result.exit_code == 3  # not found
    assert "no task named 'sentimant'" in result.stderr
    assert "did you mean sentiment?" in result.stderr


def test_input_that_does_not_match_names_the_field(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", "sentiment", "--input", '{"body": "hello"}'])
    assert result.exit_code == 2
    assert "task.input_invalid" in result.stderr
    assert "text: Field required" in result.stderr


def test_unknown_model_id_is_a_clear_error(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", "sentiment", "--input", "hi", "--model", "llamacpp:smollm3"])
    assert result.exit_code == 3
    assert "no model 'llamacpp:smollm3' is registered" in result.stderr
    assert SMOLLM2 in result.stderr


def test_show_of_a_missing_run(cli: CliRunner) -> None:
    result = cli.invoke(app, ["show", "run_nope"])
    assert result.exit_code == 3
    assert "run_nope" in result.stderr


@pytest.mark.llm
@pytest.mark.parametrize("model_id", [SMOLLM2, GEMMA])
def test_run_label_task_returns_one_of_the_labels(cli: CliRunner, model_id: str) -> None:
    text = "I still have not received my new card, it has been two weeks."
    result = cli.invoke(
        app, ["run", "banking77-intent", "--input", text, "--model", model_id, "--json"]
    )
    assert result.exit_code == 0, result.output + result.stderr
    body = json.loads(result.stdout)
    assert body["output"] in BANKING77_INTENTS
    assert body["model"] == model_id

    listed = cli.invoke(app, ["runs", "--json"])
    assert [r["id"] for r in json.loads(listed.stdout)] == [body["run_id"]]
    shown = cli.invoke(app, ["show", body["run_id"], "--json"])
    record = json.loads(shown.stdout)
    assert record["output"] == body["output"]
    assert record["attempts"][0]["strategy"] == "grammar"
    assert text in record["attempts"][0]["prompt"]

    explained = cli.invoke(app, ["explain", body["run_id"], "--json"])
    auction = json.loads(explained.stdout)
    assert auction["winner"] == model_id
    assert [b["model_id"] for b in auction["bids"]] == [model_id]  # --model pins one bidder
    assert auction["cascade"][0]["outcome"] == "succeeded"
    table = cli.invoke(app, ["explain", body["run_id"]])
    assert f"{model_id} won on the highest expected value net of cost" in table.stdout


@pytest.mark.llm
@pytest.mark.parametrize("model_id", [SMOLLM2, GEMMA])
def test_run_extraction_task_returns_facts_or_a_typed_error(
    cli: CliRunner, model_id: str, tmp_path: Path
) -> None:
    message = tmp_path / "message.json"
    message.write_text(
        json.dumps({"text": "I paid 120 GBP at Tesco on 2024-06-01 with card 9911 and it failed."})
    )
    result = cli.invoke(
        app, ["run", "transaction-facts", "--input", f"@{message}", "--model", model_id, "--json"]
    )
    if result.exit_code == 0:
        facts = TransactionFacts.model_validate(json.loads(result.stdout)["output"])
        assert 1 <= facts.urgency <= 5
    else:
        # Never an invalid object: the only other outcome is the typed error, with the run kept.
        assert result.exit_code == 1  # the thing asked failed
        assert "output.invalid" in result.stderr
        listed = json.loads(cli.invoke(app, ["runs", "--json"]).stdout)
        assert listed[0]["status"] == "failed"
        assert listed[0]["error_code"] == "output.invalid"
