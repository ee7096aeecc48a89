"""What several benchmarks share: a PostgreSQL to measure on, and writing the report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from atomic.testing import postgres_cluster

__all__ = ["postgres_url", "write_report"]


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
