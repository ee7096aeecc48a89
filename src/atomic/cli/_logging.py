"""Engines talk to the log, not to the terminal: DBOS, Temporal, llama.cpp, HTTP and database
libraries write to ``ATOMIC_HOME/atomic.log`` unless ``atomic -v`` asks to see them.

(DBOS adds its own console handler at launch only to a logger that has none, so a handler set
here first keeps its warnings, such as the one after a workflow resumes, off the terminal.)
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

__all__ = ["LIBRARY_LOGGERS", "route_library_logs"]

LIBRARY_LOGGERS = (
    "dbos",
    "temporalio",
    "llama_cpp",
    "atomic.llamacpp",
    "httpx",
    "httpcore",
    "uvicorn",
    "alembic",
    "sqlalchemy",
    "asyncio",
)
LOG_NAME = "atomic.log"

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _FolderFileHandler(logging.FileHandler):
    """A file handler that opens its file on the first record, creating its folder then."""

    def _open(self):  # type: ignore[no-untyped-def]
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def _home() -> Path:
    named = os.environ.get("ATOMIC_HOME")
    if named:
        return Path(named).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "atomic"


def route_library_logs(verbose: bool) -> Path | None:
    """Send the libraries' logs to the log file (returned), or to stderr at INFO when
    ``verbose``."""
    handler: logging.Handler
    path: Path | None = None
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
    else:
        path = _home() / LOG_NAME
        handler = _FolderFileHandler(path, delay=True, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
        logger.propagate = False
        # Verbose shows the libraries' INFO, but not every SQL statement SQLAlchemy echoes.
        quiet = name == "sqlalchemy" or not verbose
        logger.setLevel(logging.NOTSET if quiet else logging.INFO)
    return path
