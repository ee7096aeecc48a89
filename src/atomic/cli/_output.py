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
import sys
from typing import NoReturn

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
    "err_console",
    "exit_code_for",
    "fail",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 the thing asked failed (a model, validation, the store); "
    "2 usage (a bad argument, input, setting or atomic.toml); 3 not found (task, model, run). "
    "With --json, errors are JSON on stderr."
)

console = Console()
err_console = Console(stderr=True)


def exit_code_for(error: AtomicError) -> int:
    if isinstance(error, NotFoundError):
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
        err_console.print(_render.error_text(error), soft_wrap=True)
    raise typer.Exit(code=exit_code_for(error))
