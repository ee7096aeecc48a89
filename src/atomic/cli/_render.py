"""Rich renderings of cards, tasks, runs and errors for the terminal."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from atomic.errors import AtomicError
from atomic.models import ModelCard
from atomic.storage import RunRecord
from atomic.tasks import Task

__all__ = [
    "error_panel",
    "error_text",
    "format_cost",
    "models_table",
    "run_detail",
    "runs_table",
    "short",
    "tasks_table",
]


def format_cost(usd: float) -> str:
    if usd == 0:
        return "$0"
    return f"${usd:.6f}" if usd < 0.01 else f"${usd:.4f}"


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def models_table(cards: Iterable[ModelCard]) -> Table:
    table = Table(title="Registered models", title_justify="left")
    for column in ("model", "residency", "strategies", "context", "$/M in", "$/M out", "$/call"):
        table.add_column(column, justify="right" if column.startswith(("$", "context")) else "left")
    table.add_column("latency prior", justify="right")
    for card in cards:
        table.add_row(
            card.id,
            card.residency.value + (f" ({card.region})" if card.region else ""),
            ", ".join(sorted(s.value for s in card.strategies)),
            f"{card.context_window:,}",
            f"{card.price.input_per_mtok:g}",
            f"{card.price.output_per_mtok:g}",
            f"{card.price.per_call:g}",
            f"{card.latency_prior_ms:,.0f} ms",
        )
    return table


def tasks_table(tasks: Iterable[Task[Any, Any]]) -> Table:
    table = Table(title="Tasks", title_justify="left")
    for column in ("task", "version", "kind", "input", "sensitivity", "checks", "description"):
        table.add_column(column)
    for task in tasks:
        table.add_row(
            task.name,
            task.version,
            task.kind.value,
            task.input.__name__,
            task.sensitivity.value,
            str(len(task.checks)),
            task.description,
        )
    return table


def runs_table(runs: Iterable[RunRecord]) -> Table:
    table = Table(title="Recent runs", title_justify="left")
    for column in ("run", "when (UTC)", "task", "model", "status", "output"):
        # Ids are what people copy: never cut them; the output column gives way instead.
        table.add_column(column, no_wrap=column in ("run", "model", "when (UTC)"))
    for column in ("tokens", "latency", "cost"):
        table.add_column(column, justify="right")
    for run in runs:
        status = Text(run.status.value, style="green" if run.status == "succeeded" else "red")
        shown = run.output if run.status == "succeeded" else (run.error_code or "")
        table.add_row(
            run.id,
            run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{run.task_name} v{run.task_version}",
            run.model_id or "-",
            status,
            short(shown, 40),
            f"{run.input_tokens}+{run.output_tokens}",
            f"{run.latency_ms:,.0f} ms",
            format_cost(run.cost_usd),
        )
    return table


def run_detail(run: RunRecord) -> Group:
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    rows: list[tuple[str, str]] = [
        ("run", run.id),
        ("task", f"{run.task_name} v{run.task_version}"),
        ("tenant", run.tenant),
        ("status", run.status.value),
        ("model", run.model_id or "-"),
        ("input", short(run.input, 200)),
        ("output", short(run.output, 200) if run.output is not None else "-"),
        ("tokens", f"{run.input_tokens} in, {run.output_tokens} out"),
        ("cost", format_cost(run.cost_usd)),
        ("latency", f"{run.latency_ms:,.0f} ms"),
        ("created", run.created_at.isoformat()),
    ]
    if run.error:
        rows.append(("error", f"{run.error.get('code')}: {run.error.get('message')}"))
    for key, value in rows:
        summary.add_row(key, value)
    attempts = Table(title="Attempts", title_justify="left")
    for column in ("#", "model", "strategy", "raw output", "errors", "tokens", "latency", "cost"):
        attempts.add_column(column)
    for attempt in run.attempts:
        problems = attempt.validation_errors + (
            [f"{attempt.error_code}: {attempt.error_message}"] if attempt.error_code else []
        )
        attempts.add_row(
            str(attempt.index),
            attempt.model_id,
            attempt.strategy,
            short(attempt.raw_output or "", 50),
            Text("\n".join(problems) or "none", style="red" if problems else "green"),
            f"{attempt.input_tokens}+{attempt.output_tokens}",
            f"{attempt.latency_ms:,.0f} ms",
            format_cost(attempt.cost_usd),
        )
    return Group(Panel(summary, title="Run", title_align="left"), attempts)


def error_text(error: AtomicError) -> Text:
    """An error as plain lines, to print with ``soft_wrap=True``: ids, paths and URLs in it are
    never folded mid-word or boxed, so they can be copied whole at any width."""
    body = Text.assemble(("error ", "bold red"), (error.code, "bold red"), ": ", error.message)
    if error.hint:
        body.append(f"\n→ {error.hint}", style="yellow")
    extra = getattr(error, "errors", None)
    if extra:
        body.append("\n" + "\n".join(f"  • {e}" for e in extra), style="dim")
    return body


def error_panel(error: AtomicError) -> Panel:
    body = Text(error.message)
    if error.hint:
        body.append(f"\n→ {error.hint}", style="yellow")
    extra = getattr(error, "errors", None)
    if extra:
        body.append("\n" + "\n".join(f"  • {e}" for e in extra), style="dim")
    title = Text(f"error {error.code}", style="bold red")
    return Panel(body, title=title, title_align="left", border_style="red")
