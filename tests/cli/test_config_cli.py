"""``atomic init``, ``atomic config check`` and settings errors, as a user meets them."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atomic.cli import app
from tests.fixtures.openai_server import ErrorPeer

CONFIG = """
[settings]
local_models = ["llamacpp:smollm2-135m-instruct"]

[tasks]
builtin = false

[[models]]
id = "llamacpp-server:smollm2-135m-instruct-q4"
base_url = "http://127.0.0.1:8080/v1"
model = "smollm2"
price = { input_per_mtok = 0.1, output_per_mtok = 0.2 }
context_window = 2048
residency = "on_prem"

[[models]]
base_url = "https://api.openai.com/v1"
model = "gpt-4.1-nano"
api_key_env = "ATOMIC_TEST_KEY"
"""


@pytest.fixture
def cli(tmp_path: Path, model_home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in list(os.environ):
        if name.startswith("ATOMIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ATOMIC_HOME", str(model_home))
    monkeypatch.setenv("ATOMIC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_init_writes_a_starter_that_checks(cli: CliRunner, tmp_path: Path) -> None:
    written = cli.invoke(app, ["init"])
    assert written.exit_code == 0, written.output
    assert (tmp_path / "atomic.toml").is_file()
    again = cli.invoke(app, ["init"])
    assert again.exit_code == 2
    assert "already exists" in again.stderr
    assert "--force" in again.stderr
    checked = cli.invoke(app, ["config", "check"])
    assert checked.exit_code == 0, checked.output
    assert str(tmp_path / "atomic.toml") in checked.stdout
    assert "OK: the configuration is valid." in checked.stdout


def test_config_check_prints_every_model_whole_at_80_columns(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "atomic.toml").write_text(CONFIG)
    missing = cli.invoke(app, ["config", "check"])
    assert missing.exit_code == 2
    assert "ATOMIC_TEST_KEY, which is not set" in missing.stderr

    monkeypatch.setenv("ATOMIC_TEST_KEY", "sk-test")
    checked = cli.invoke(app, ["config", "check"])
    assert checked.exit_code == 0, checked.output
    lines = checked.stdout.splitlines()
    for model_id in (
        "llamacpp:smollm2-135m-instruct",
        "llamacpp-server:smollm2-135m-instruct-q4",
        "openai:gpt-4.1-nano",
    ):
        assert model_id in lines
    assert "on_prem; 2,048 tokens" in checked.stdout
    assert "sk-test" not in checked.stdout
    report = json.loads(cli.invoke(app, ["config", "check", "--json"]).stdout)
    nano = next(m for m in report["models"] if m["id"] == "openai:gpt-4.1-nano")
    assert nano["api_key_env"] == "ATOMIC_TEST_KEY"
    assert nano["price"]["input_per_mtok"] == 0.1
    assert "price table" in nano["price"]["source"]


def test_tasks_can_be_turned_off(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "atomic.toml").write_text("[tasks]\nbuiltin = false\n")
    listed = cli.invoke(app, ["tasks"])
    assert listed.exit_code == 0, listed.output
    assert "sentiment" not in listed.stdout


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ATOMIC_MAX_ATTEMPTS", "abc", "a whole number ≥ 1 and ≤ 10"),
        ("ATOMIC_PROMPT_STORAGE", "bogus", "one of full, hash"),
        ("ATOMIC_LEARNED_MODELS", "maybe", "true or false"),
        ("ATOMIC_LOCAL_MODELS", "[oops", "a comma-separated list"),
    ],
)
def test_a_bad_setting_is_one_clear_message(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    for args in (["models"], ["runs"], ["config", "check"]):
        result = cli.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.stderr
        flat = " ".join(result.stderr.split())
        assert f"{variable}={value!r} is not valid" in flat
        assert expected in flat
    as_json = cli.invoke(app, ["runs", "--json"])
    error = json.loads(as_json.stderr)["error"]
    assert (error["code"], error["context"]["variable"]) == ("config.invalid", variable)


def test_list_settings_take_a_comma_separated_list(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "ATOMIC_LOCAL_MODELS", "llamacpp:smollm2-135m-instruct, llamacpp:gemma-3-270m"
    )
    ids = [c["id"] for c in json.loads(cli.invoke(app, ["models", "--json"]).stdout)]
    assert ids[:2] == ["llamacpp:smollm2-135m-instruct", "llamacpp:gemma-3-270m"]
    monkeypatch.setenv("ATOMIC_TASK_MODULES", "myapp.tasks")
    result = cli.invoke(app, ["tasks"])
    assert result.exit_code == 2
    assert "cannot import task module 'myapp.tasks'" in " ".join(result.stderr.split())


def test_a_sqlite_folder_that_does_not_exist_is_an_error(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATOMIC_DATABASE_URL", f"sqlite:///{tmp_path}/nonexistent/dir/a.db")
    result = cli.invoke(app, ["runs"])
    assert result.exit_code == 1
    assert f"'{tmp_path}/nonexistent/dir'" in result.stderr.replace("\n", "")
    assert "does not exist" in result.stderr
    assert not (tmp_path / "nonexistent").exists()


def test_the_default_home_is_created_on_first_use(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATOMIC_DATABASE_URL")
    monkeypatch.setenv("ATOMIC_HOME", str(tmp_path / "fresh" / "home"))
    result = cli.invoke(app, ["runs"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh" / "home" / "atomic.db").is_file()


def test_config_check_probe_asks_each_endpoint(
    cli: CliRunner, tmp_path: Path, error_peer: ErrorPeer, down_url: str
) -> None:
    (tmp_path / "atomic.toml").write_text(
        "[settings]\nlocal_models = []\n\n"
        f'[[models]]\nid = "vllm:peer-model"\nbase_url = "{error_peer.url("vllm")}"\n'
        'model = "peer-model"\n'
    )
    probed = cli.invoke(app, ["config", "check", "--probe"])
    assert probed.exit_code == 0, probed.output
    assert "serves it; context window: the server says 4,096 tokens" in probed.stdout
    report = json.loads(cli.invoke(app, ["config", "check", "--json"]).stdout)
    assert report["models"][0]["context_window"] == 4096  # remembered for the next process

    (tmp_path / "atomic.toml").write_text(
        f'[[models]]\nid = "down:m"\nbase_url = "{down_url}"\nmodel = "m"\n'
    )
    down = cli.invoke(app, ["config", "check", "--probe", "--json"])
    assert down.exit_code == 1
    [entry] = [m for m in json.loads(down.stdout)["models"] if m["id"] == "down:m"]
    assert entry["probe"]["ok"] is False
    assert "model.transport" in entry["probe"]["problem"]
