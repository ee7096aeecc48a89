"""Fixtures of the CLI tests."""

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner


@pytest.fixture(autouse=True)
def _library_loggers_restored() -> Iterator[None]:
    """Commands run in this process route the libraries' logs (to a file, or to stderr at
    INFO with -v): put the loggers back after each test, so no later test pays for them."""
    from atomic.cli._logging import LIBRARY_LOGGERS

    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    yield
    for logger, handlers, level, propagate in saved:
        for handler in list(logger.handlers):
            if handler not in handlers:
                logger.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


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
