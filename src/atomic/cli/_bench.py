"""``atomic bench``: run the project's benchmarks (they live in ``benchmarks/`` of a checkout).

The benchmarks are not part of the installed package: each command finds the ``benchmarks``
folder next to ``src/`` at the project root, imports the benchmark module from it and calls
its ``main(argv)``. A new benchmark is one more command that names its module and options.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer
from rich.console import Console

from atomic.errors import AtomicError

from . import _render

__all__ = ["bench_app", "benchmarks_root", "load_benchmark"]

bench_app = typer.Typer(
    name="bench",
    help="Run the benchmarks of a source checkout (the benchmarks/ folder next to src/). "
    "Each prints a table and writes JSON (and a PNG) under benchmarks/results/.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

err_console = Console(stderr=True)

# Options a benchmark does not declare here are passed through to its own argument parser.
_PASS_THROUGH: dict[str, Any] = {"allow_extra_args": True, "ignore_unknown_options": True}


def benchmarks_root() -> Path:
    """The project root holding ``benchmarks/`` and ``src/``, or a clear error."""
    root = Path(__file__).resolve().parents[3]
    folder = root / "benchmarks"
    if not (folder / "__init__.py").is_file() or not (root / "src" / "atomic").is_dir():
        raise AtomicError(
            f"no benchmarks folder next to src/ (looked for {folder})",
            hint="`atomic bench` runs from a source checkout of Atomic: clone the repository "
            "and install it editable (pip install -e .); the benchmarks are not part of the "
            "installed package",
            context={"looked_in": str(folder)},
        )
    return root


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks.<name>`` from the checkout."""
    root = str(benchmarks_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"benchmarks.{name}")


def _call(body: Callable[[], object]) -> None:
    try:
        body()
    except AtomicError as exc:
        err_console.print(_render.error_panel(exc))
        raise typer.Exit(code=2) from None


def _options(**values: Any) -> list[str]:
    argv: list[str] = []
    for name, value in values.items():
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


@bench_app.command(context_settings=_PASS_THROUGH)
def routing(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="A folder of RouterBench-format CSVs (*_train.csv, *_test.csv). "
            "Default: ../shared/data/routerbench from the project root.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="JSON output; the PNG is written next to it. "
            "Default: benchmarks/results/routing.json.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Use only the first N (shuffled) rows of each split."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default 0).")] = None,
) -> None:
    """Route recorded prompts through the exchange against single models, random, cheapest,
    best single, the oracle and a kNN router; warm start, cold-start online, and IPS.

    Further options (--values, --floors, --dims, --exploration, --online-value, ...) are passed
    to benchmarks/routing.py; see `python benchmarks/routing.py --help`.
    """
    argv = _options(data=data, out=out, limit=limit, seed=seed) + list(ctx.args)
    _call(lambda: load_benchmark("routing").main(argv))


@bench_app.command(context_settings=_PASS_THROUGH)
def overhead(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="JSON output. Default: benchmarks/results/overhead.json.",
            show_default=False,
        ),
    ] = None,
    pg_url: Annotated[
        str | None,
        typer.Option(
            "--pg-url",
            help="A PostgreSQL URL to measure on; by default a throwaway server is started.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Auction latency against the number of bidders (context-free and contextual), and the
    per-call overhead of the exchange on SQLite and PostgreSQL, on a model that answers at once.

    Further options (--bidders, --auctions, --calls, --no-postgres) are passed to
    benchmarks/overhead.py; see `python benchmarks/overhead.py --help`.
    """
    argv = _options(out=out, pg_url=pg_url) + list(ctx.args)
    _call(lambda: load_benchmark("overhead").main(argv))


@bench_app.command(context_settings=_PASS_THROUGH)
def structured(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="A folder of JSONSchemaBench files. Default: ../shared/data/jsonschemabench.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="JSON output. Default: benchmarks/results/structured.json.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Constraint coverage of llguidance and llama.cpp's grammar on JSONSchemaBench, and
    tokens/s and first-attempt validity with and without the constraint on the local models.

    Further options are passed to benchmarks/structured.py; see its --help.
    """
    argv = _options(data=data, out=out) + list(ctx.args)
    _call(lambda: load_benchmark("structured").main(argv))


@bench_app.command(context_settings=_PASS_THROUGH)
def adaptation(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="A CSV whose first two columns are text and label. "
            "Default: ../shared/data/banking77/test.csv.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="JSON output; the PNG is written next to it. "
            "Default: benchmarks/results/adaptation.json.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the first N (shuffled) queries.")
    ] = None,
    seed_per_intent: Annotated[
        int | None,
        typer.Option(
            "--seed-per-intent",
            min=0,
            help="Labelled examples per label put in memory first, from --seed-data "
            "(default 0: start empty).",
        ),
    ] = None,
) -> None:
    """A labelled stream through a label task with ground-truth feedback after every call:
    accuracy, cost per call and the expert's share without adaptation, with memory
    retrieval, with the learned classifier, and with both.

    Further options (--configs, --expert-price, --expert-accuracy, --value, --k, --window,
    --no-llm, ...) are passed to benchmarks/adaptation.py; see its --help.
    """
    argv = _options(data=data, out=out, limit=limit, seed_per_intent=seed_per_intent)
    _call(lambda: load_benchmark("adaptation").main(argv + list(ctx.args)))


@bench_app.command(context_settings=_PASS_THROUGH)
def workflows(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="JSON output. Default: benchmarks/results/workflows.json.",
            show_default=False,
        ),
    ] = None,
    runs: Annotated[
        int | None,
        typer.Option("--runs", min=1, help="Workflows per size and runner (default 50)."),
    ] = None,
    inbox_emails: Annotated[
        int | None,
        typer.Option(
            "--inbox-emails",
            min=0,
            help="Emails for the inbox demo on each runner (default 6; 0 skips it).",
        ),
    ] = None,
) -> None:
    """Per-step overhead of the direct, embedded (SQLite, PostgreSQL) and Temporal runners
    on workflows of 1, 5 and 20 steps against direct calls, and the inbox demo's emails per
    minute on each runner.

    Further options (--steps, --pg-url, --no-postgres, --inbox-runners, --home) are passed
    to benchmarks/workflows.py; see `python benchmarks/workflows.py --help`.
    """
    argv = _options(out=out, runs=runs, inbox_emails=inbox_emails) + list(ctx.args)
    _call(lambda: load_benchmark("workflows").main(argv))


@bench_app.command(context_settings=_PASS_THROUGH)
def startup(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="A CSV whose first two columns are text and a Banking77 intent. "
            "Default: ../shared/data/banking77/train.csv from the project root.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="JSON output. Default: benchmarks/results/startup.json.",
            show_default=False,
        ),
    ] = None,
    examples: Annotated[
        int | None,
        typer.Option("--examples", min=2, help="Examples remembered first (default 5000)."),
    ] = None,
    repeat: Annotated[
        int | None,
        typer.Option("--repeat", min=1, help="Fresh processes per measure (default 5)."),
    ] = None,
) -> None:
    """Start-up time with thousands of remembered examples and a trained classifier:
    `atomic --help`, `Atomic.open` and `atomic runs` in fresh processes against their
    targets, beside the old path that retrained the classifier at every open.
    """
    argv = _options(data=data, out=out, examples=examples, repeat=repeat) + list(ctx.args)
    _call(lambda: load_benchmark("startup").main(argv))
