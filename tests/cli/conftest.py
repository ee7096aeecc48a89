"""Fixtures of the CLI tests."""

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner


@pytest.fixture(scope="session")
def model_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ATOMIC_HOME for the session, so Gemma's file is assembled once."""
    return tmp_path_factory.mktemp("atomic-home")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI as a user at an 80-column terminal runs it: no ATOMIC_* variable but a
    throwaway home and database, no local models, from a folder of its own."""
    for name in list(os.environ):
        if name.startswith("ATOMIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ATOMIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ATOMIC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("ATOMIC_LOCAL_MODELS", "")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    return CliRunner()
