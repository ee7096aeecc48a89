"""Fixtures of the CLI tests."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ATOMIC_HOME for the session, so Gemma's file is assembled once."""
    return tmp_path_factory.mktemp("atomic-home")
