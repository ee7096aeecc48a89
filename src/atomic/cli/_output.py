"""Where the command line writes: the consoles, errors as a panel or as JSON, and exit codes.

```
exit code   meaning
0           done
1           the thing asked failed (a model, validation, the store, no eligible model)
2           usage: a bad argument, input, feedback, setting or atomic.toml
3           not found: no such task, model or run
```
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import typer
from rich.console import Console

from atomic.errors import (
    AtomicError,
    ConfigError,
    FeedbackError,
    InputValidationError,
    NotFoundError,
)

from . import _render

__all__ = [
    "EXIT_CODES_HELP",
    "EXIT_FAILURE",
    "EXIT_NOT_FOUND",
    "EXIT_USAGE",
    "console",
    "emit_json",
    "err_console",
    "exit_code_for",
    "fail",
    "parse_since",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 the thing asked failed (a model, validation, the store); "
    "2 usage (a bad argument, input, setting or atomic.toml); 3 not found (task, model, run). "
    "With --json, errors are JSON on stderr."
)


class _Console(Console):
    """A console whose width follows ``COLUMNS`` when it changes after start (as in tests)."""

    @property
    def width(self) -> int:
        columns = os.environ.get("COLUMNS", "")
        return int(columns) if columns.isdigit() and int(columns) > 0 else super().width

    @width.setter
    def width(self, width: int) -> None:
        self._width = width


# No emoji codes: a model id and a colon (`fn:cloud: …`) would print as a cloud.
console: Console = _Console(emoji=False)
err_console: Console = _Console(stderr=True, emoji=False)


def emit_json(data: Any) -> None:
    """Print data as JSON on stdout: plain, whole lines, for scripts."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


_AGE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str) -> datetime:
    """``30m``, ``2h``, ``7d`` ago, or an ISO date/time (UTC unless it gives an offset)."""
    age = _AGE.match(value.strip())
    if age:
        return datetime.now(UTC) - timedelta(**{_UNITS[age[2]]: int(age[1])})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{value!r} is neither an age (30m, 2h, 7d) nor an ISO date or time "
            "(2026-12-01, 2026-12-01T09:30)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def exit_code_for(error: AtomicError) -> int:
    # Not only NotFoundError: the service's own errors carry their HTTP status.
    if isinstance(error, NotFoundError) or getattr(error, "status", None) == 404:
        return EXIT_NOT_FOUND
    if isinstance(error, ConfigError | InputValidationError | FeedbackError):
        return EXIT_USAGE
    return EXIT_FAILURE


def error_json(error: AtomicError) -> str:
    body = {"error": error.to_dict()}
    extra = getattr(error, "errors", None)
    if extra:
        body["error"]["errors"] = list(extra)
    return json.dumps(body, ensure_ascii=False, default=str)


def fail(error: AtomicError, *, as_json: bool = False) -> NoReturn:
    """Print ``error`` on stderr (a panel, or one JSON object) and exit with its code."""
    if as_json:
        sys.stderr.write(error_json(error) + "\n")
    else:
        err_console.print(_render.error_text(error))
    raise typer.Exit(code=exit_code_for(error))
