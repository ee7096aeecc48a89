"""``atomic lineage`` as a user at an 80-column terminal runs it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atomic.cli import app
from tests.lineage._history import History, make_history, open_atomic


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in list(os.environ):
        if name.startswith("ATOMIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ATOMIC_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("ATOMIC_LOCAL_MODELS", "")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.fixture
async def history(tmp_path: Path, store_url: str) -> History:
    async with await open_atomic(tmp_path, store_url) as atomic:
        return await make_history(atomic)


def _fits(output: str) -> None:
    wide = [line for line in output.splitlines() if len(line) > 80]
    assert wide == [], "\n".join(wide)


def test_the_tree_shows_the_run_its_examples_and_their_corrections_in_80_columns(
    cli: CliRunner, history: History, store_url: str
) -> None:
    result = cli.invoke(app, ["lineage", history.third, "--db", store_url])

    assert result.exit_code == 0, result.output
    _fits(result.stdout)
    for whole in (
        history.third,
        history.second,
        history.first,
        history.example_a,
        history.example_b,
        history.first_feedback,
        history.second_feedback,
    ):
        assert whole in result.stdout
    assert "fn:guess" in result.stdout
    assert "3 runs, 2 hops of examples back" in result.stdout
    assert result.stdout.index(history.example_b) < result.stdout.index(history.example_a)


def test_json_is_a_prov_document(cli: CliRunner, history: History, store_url: str) -> None:
    result = cli.invoke(app, ["lineage", history.second, "--json", "--db", store_url])

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"prefix", "entity", "activity", "agent", "used", "wasDerivedFrom"} <= set(doc)
    assert f"atomic:run/{history.second}" in doc["activity"]
    assert f"atomic:example/{history.example_a}" in doc["entity"]


def test_example_lists_the_runs_it_influenced(
    cli: CliRunner, history: History, store_url: str
) -> None:
    result = cli.invoke(app, ["lineage", "--example", history.example_a, "--db", store_url])
    as_json = cli.invoke(
        app, ["lineage", "--example", history.example_a, "--json", "--db", store_url]
    )

    assert result.exit_code == 0, result.output
    _fits(result.stdout)
    assert history.second in result.stdout
    assert history.third in result.stdout
    assert history.unrelated not in result.stdout
    assert "influenced 2 runs, 1 directly" in result.stdout
    data = json.loads(as_json.stdout)
    assert [r["run_id"] for r in data["runs"]] == [history.second, history.third]
    assert (data["direct"], data["total"], data["by_depth"]) == (1, 2, {"1": 1, "2": 1})


def test_unknown_ids_are_not_found_and_a_bare_command_is_a_usage_error(
    cli: CliRunner, history: History, store_url: str
) -> None:
    run = cli.invoke(app, ["lineage", "run_nope", "--db", store_url])
    example = cli.invoke(app, ["lineage", "--example", "ex_nope", "--json", "--db", store_url])
    bare = cli.invoke(app, ["lineage", "--db", store_url])

    assert run.exit_code == 3
    assert "run_nope" in run.output
    assert example.exit_code == 3
    assert json.loads(example.stderr)["error"]["code"] == "example.not_found"
    assert bare.exit_code == 2
