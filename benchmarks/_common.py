"""What several benchmarks share: a PostgreSQL to measure on, and writing the report."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console

from atomic.testing import postgres_cluster

__all__ = ["postgres_url", "report_header", "write_report"]


@contextmanager
def postgres_url(url: str | None, enabled: bool, name: str) -> Iterator[str | None]:
    """``url`` if given, else a throwaway server's database ``name``; None when disabled."""
    if not enabled:
        yield None
    elif url:
        yield url
    else:
        with postgres_cluster(name) as started:
            yield started


def write_report(report: dict[str, Any], out: str | Path, console: Console) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    console.print(f"Wrote {path}")


def report_header(name: str, args: Any, packages: Sequence[str]) -> dict[str, Any]:
    """What opens every report: the benchmark, when, its arguments, the machine, and the
    versions of ``packages``."""
    found = {}
    for package in ("atomic", *packages):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return {
        "benchmark": name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": found,
    }
