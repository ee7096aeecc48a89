"""Every command read at 80 columns: ids whole, primary columns whole; --json and exit codes.

Runs are made by function models with long ids (no LLM), through the real exchange and store.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atomic import Atomic
from atomic.cli import app
from atomic.errors import ServerError
from atomic.models import FunctionModel, ScriptedModel
from atomic.settings import load_settings

GOOD = "function:a-rather-long-model-identifier-that-answers"
BAD = "scripted:another-long-model-identifier-that-fails"
WORSE = "scripted:a-third-model-that-also-fails"


@pytest.fixture
def run_ids(cli: CliRunner) -> dict[str, str]:
    """Two succeeded runs and one failed cascade, stored in the CLI's database."""

    async def fill() -> dict[str, str]:
        settings = load_settings()
        good = FunctionModel(lambda request: "positive", id=GOOD)
        async with await Atomic.open(settings, models=[good]) as atomic:
            first = await atomic.run("sentiment", {"text": "Thanks, the card works now!"})
            second = await atomic.run("sentiment", {"text": "Still waiting for my card."})
        failing = [
            ScriptedModel([ServerError("upstream 503", model_id=BAD)] * 3, id=BAD),
            ScriptedModel([ServerError("upstream 502", model_id=WORSE)] * 3, id=WORSE),
        ]
        async with await Atomic.open(settings, models=failing) as atomic:
            try:
                await atomic.run("sentiment", {"text": "Hello?"})
            except ServerError as exc:
                failed = exc.context["run_id"]
        return {"first": first.run_id, "second": second.run_id, "failed": failed}

    return asyncio.run(fill())


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def _assert_fits(text: str) -> None:
    """Every line fits in 80 columns, unless it holds one word (an id, a URL) that cannot."""
    for line in _lines(text):
        assert len(line) <= 80 or max(len(w) for w in line.split()) > 40, line


def test_runs_at_80_columns_keeps_every_id_and_primary_column(
    cli: CliRunner, run_ids: dict[str, str]
) -> None:
    result = cli.invoke(app, ["runs"])
    assert result.exit_code == 0, result.output
    _assert_fits(result.stdout)
    words = result.stdout.split()
    for run_id in run_ids.values():
        assert run_id in words
    for whole in (GOOD, "sentiment", "succeeded", "failed"):
        assert whole in words


def test_runs_wide_shows_every_column(cli: CliRunner, run_ids: dict[str, str]) -> None:
    result = cli.invoke(app, ["runs", "--wide"])
    header = _lines(result.stdout)[1].split()
    assert header[:2] == ["run", "when"]
    for column in ("task", "model", "status", "output", "tokens", "latency", "cost"):
        assert column in header


def test_runs_filters_and_pages(cli: CliRunner, run_ids: dict[str, str]) -> None:
    def ids(*args: str) -> list[str]:
        result = cli.invoke(app, ["runs", "--json", *args])
        assert result.exit_code == 0, result.output
        return [r["id"] for r in json.loads(result.stdout)]

    assert ids("--status", "failed") == [run_ids["failed"]]
    assert ids("--model", GOOD) == [run_ids["second"], run_ids["first"]]
    assert ids("--since", "1h") == [run_ids["failed"], run_ids["second"], run_ids["first"]]
    assert ids("--since", "2999-01-01") == []
    page = ids("--limit", "2")
    assert page == [run_ids["failed"], run_ids["second"]]
    assert ids("--limit", "2", "--before", page[-1]) == [run_ids["first"]]
    more = cli.invoke(app, ["runs", "--limit", "2"])
    assert f"atomic runs --before {run_ids['second']}" in more.stdout

    unknown = cli.invoke(app, ["runs", "--task", "nosuch"])
    assert unknown.exit_code == 3
    assert "no task named 'nosuch'" in unknown.stderr
    bad_since = cli.invoke(app, ["runs", "--since", "yesterday"])
    assert bad_since.exit_code == 2
    assert "neither an age" in bad_since.output


def test_show_and_explain_at_80_columns(cli: CliRunner, run_ids: dict[str, str]) -> None:
    for command in ("show", "explain"):
        for run_id in run_ids.values():
            result = cli.invoke(app, [command, run_id])
            assert result.exit_code == 0, result.output
            _assert_fits(result.stdout)
            words = result.stdout.split()
            assert run_id in words
            assert GOOD in words or (BAD in words and WORSE in words)
    prompts = cli.invoke(app, ["show", run_ids["first"], "--prompts"])
    assert "[system]" in prompts.stdout or "[user]" in prompts.stdout
    assert "Thanks, the card works now!" in prompts.stdout


def test_a_failed_cascade_names_every_model_tried_and_the_run(
    cli: CliRunner, run_ids: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The failure as `atomic run` reports it: both endpoints are unreachable here.
    (tmp_path / "atomic.toml").write_text(
        "[[models]]\n"
        'id = "down:first-model-of-the-cascade"\n'
        'base_url = "http://127.0.0.1:9/v1"\nmodel = "a"\n\n'
        "[[models]]\n"
        'id = "down:second-model-of-the-cascade"\n'
        'base_url = "http://127.0.0.1:9/v1"\nmodel = "b"\n'
    )
    result = cli.invoke(app, ["run", "sentiment", "--input", "hello"])
    assert result.exit_code == 1
    _assert_fits(result.stderr)
    assert "models tried (2):" in result.stderr
    for model_id in ("down:first-model-of-the-cascade", "down:second-model-of-the-cascade"):
        assert model_id in result.stderr.split()
    assert "model.transport" in result.stderr
    as_json = json.loads(cli.invoke(app, ["run", "sentiment", "-i", "hi", "--json"]).stderr)
    context = as_json["error"]["context"]
    assert context["run_id"].startswith("run_")
    assert sorted(t["model"] for t in context["tried"]) == [
        "down:first-model-of-the-cascade",
        "down:second-model-of-the-cascade",
    ]


def test_models_and_tasks_at_80_columns(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATOMIC_LOCAL_MODELS")  # the variable would win over the file
    (tmp_path / "atomic.toml").write_text(
        "[settings]\n"
        'local_models = ["llamacpp:smollm2-135m-instruct", "llamacpp:gemma-3-270m"]\n\n'
        "[[models]]\n"
        'id = "llamacpp-server:smollm2-135m-instruct-q4-1"\n'
        'base_url = "http://127.0.0.1:8080/v1"\nmodel = "smollm2"\n'
        'residency = "on_prem"\ncontext_window = 2048\n'
        'tasks = ["banking77-intent"]\n'
    )
    models = cli.invoke(app, ["models"])
    assert models.exit_code == 0, models.output
    _assert_fits(models.stdout)
    words = models.stdout.split()
    for model_id in (
        "llamacpp:smollm2-135m-instruct",
        "llamacpp:gemma-3-270m",
        "llamacpp-server:smollm2-135m-instruct-q4-1",
        "learned:banking77-intent",
        "on_prem",
        "2,048",
    ):
        assert model_id in words
    tasks = cli.invoke(app, ["tasks"])
    assert tasks.exit_code == 0, tasks.output
    _assert_fits(tasks.stdout)
    # Descriptions wrap in a column wide enough to read, not one word a line.
    assert len(_lines(tasks.stdout)) <= 4 * 3 + 3, tasks.stdout
    for name in ("banking77-intent", "transaction-facts", "reply-draft", "sentiment"):
        assert name in tasks.stdout.split()
    listed = json.loads(cli.invoke(app, ["tasks", "--json"]).stdout)
    assert {t["name"] for t in listed} >= {"sentiment", "banking77-intent"}


def test_plain_text_input_is_text_and_a_list_is_an_input_error(cli: CliRunner) -> None:
    from atomic.cli._app import _read_input
    from atomic.tasks._builtin import sentiment

    assert _read_input("404", sentiment) == {"text": "404"}
    assert _read_input('"quoted"', sentiment) == {"text": "quoted"}
    assert _read_input('{"text": "x"}', sentiment) == {"text": "x"}
    result = cli.invoke(app, ["run", "sentiment", "--input", "[1,2]"])
    assert result.exit_code == 2
    assert "input for task 'sentiment' is a JSON list" in result.stderr
    assert "output:" not in result.stderr


def test_every_data_command_takes_json_and_errors_are_json(
    cli: CliRunner, run_ids: dict[str, str]
) -> None:
    for args in (
        ["models"],
        ["tasks"],
        ["runs"],
        ["show", run_ids["first"]],
        ["explain", run_ids["first"]],
        ["task", "show", "sentiment"],
        ["config", "check"],
    ):
        result = cli.invoke(app, [*args, "--json"])
        assert result.exit_code == 0, (args, result.output)
        json.loads(result.stdout)
    given = cli.invoke(app, ["feedback", run_ids["first"], "--correct", "--json"])
    assert given.exit_code == 0, given.output
    assert json.loads(given.stdout)["task_frozen"] is False
    missing = cli.invoke(app, ["show", "run_nope", "--json"])
    assert missing.exit_code == 3
    assert json.loads(missing.stderr)["error"]["code"] == "run.not_found"


def test_help_documents_the_exit_codes(cli: CliRunner) -> None:
    result = cli.invoke(app, ["--help"])
    flat = " ".join(result.stdout.split())
    assert "Exit codes: 0 done; 1" in flat
    assert "3 not found" in flat


def test_engine_logs_go_to_the_log_file_unless_verbose(
    cli: CliRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    assert cli.invoke(app, ["tasks"]).exit_code == 0
    logging.getLogger("dbos").warning("a workflow resumed")
    log = tmp_path / "home" / "atomic.log"
    assert "a workflow resumed" in log.read_text()
    assert "a workflow resumed" not in capsys.readouterr().err

    assert cli.invoke(app, ["-v", "tasks"]).exit_code == 0
    handler = logging.getLogger("dbos").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    assert not isinstance(handler, logging.FileHandler)
    assert logging.getLogger("dbos").level == logging.INFO
    # Not every SQL statement, though: SQLAlchemy's engine logs each one at INFO.
    assert not logging.getLogger("sqlalchemy.engine").isEnabledFor(logging.INFO)
    cli.invoke(app, ["tasks"])  # back to the file, as the next command would be
    assert logging.getLogger("dbos").level == logging.NOTSET


def test_a_usage_error_under_json_is_json(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from atomic.cli import main

    monkeypatch.setattr("sys.argv", ["atomic", "runs", "--json", "--limit", "zero"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["code"] == "usage"
    assert "Invalid value for '--limit'" in error["message"]

    monkeypatch.setattr("sys.argv", ["atomic", "show", "run_nope", "--json"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 3
    assert json.loads(capsys.readouterr().err)["error"]["code"] == "run.not_found"


def test_the_demo_table_keeps_its_ids_at_80_columns() -> None:
    from rich.console import Console

    from atomic.cli._demo import DemoRow, _demo_table

    rows = [
        DemoRow(
            task="transaction-facts",
            model="llamacpp:smollm2-135m-instruct",
            output='{"amount": {"value": 89.99, "currency": "EUR"}, "date": "2024-05-14"}',
            ok=True,
            tokens="648+69",
            latency_ms=15454.0,
            cost_usd=0.0,
            run_id="run_01a23629e007e8f2fc1057ad",
        )
    ]
    console = Console(width=80, record=True)
    console.print(_demo_table(rows, 80))
    text = console.export_text()
    _assert_fits(text)
    words = text.split()
    for whole in ("run_01a23629e007e8f2fc1057ad", "llamacpp:smollm2-135m-instruct", "648+69"):
        assert whole in words
