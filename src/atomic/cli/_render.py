"""Rich renderings of cards, tasks, runs and errors for the terminal."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from atomic.errors import AtomicError

if TYPE_CHECKING:
    from atomic.models import ModelCard, Price
    from atomic.storage import RunRecord
    from atomic.tasks import Task

from atomic.views._explain import format_cost
from atomic.views._table import Column, fit_table

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


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


Fitted = tuple[RenderableType, int]
"""A table planned for a width, and the width it needs (see :func:`fit_table`)."""


def format_price(price: Price) -> str:
    """A card's price in one short phrase: ``$0.15 in, $0.6 out /M``, ``$0.001/call``."""
    tokens = price.input_per_mtok or price.output_per_mtok
    parts = []
    if tokens:
        parts.append(f"${price.input_per_mtok:g} in, ${price.output_per_mtok:g} out /M")
    if price.per_call:
        parts.append(f"${price.per_call:g}/call")
    return " + ".join(parts) or "$0"


def models_table(cards: Iterable[ModelCard], width: int, wide: bool = False) -> Fitted:
    columns = [
        Column("model", primary=True),
        Column("residency", primary=True),
        Column("context", justify="right", primary=True),
        Column("price", drop=1),
        Column("region", drop=5),
        Column("tasks", drop=4),
        Column("strategies", drop=6),
        Column("latency prior", justify="right", drop=7),
    ]
    rows = [
        [
            card.id,
            card.residency.value,
            f"{card.context_window:,}",
            format_price(card.price),
            card.region or "-",
            ",".join(sorted(card.tasks)) if card.tasks is not None else "any",
            ",".join(sorted(s.value for s in card.strategies)),
            f"{card.latency_prior_ms:,.0f} ms",
        ]
        for card in cards
    ]
    return fit_table(columns, rows, width=width, title="Registered models", wide=wide)


def tasks_table(tasks: Iterable[Task[Any, Any]], width: int, wide: bool = False) -> Fitted:
    columns = [
        Column("task", primary=True),
        Column("version", drop=3),
        Column("kind", primary=True),
        Column("sensitivity", drop=2),
        Column("checks", justify="right", drop=4),
        Column("input", drop=5),
        Column("description", flex=24, wrap=True, primary=True),
    ]
    rows = [
        [
            task.name,
            task.version,
            task.kind.value,
            task.sensitivity.value,
            str(len(task.checks)),
            task.input.__name__,
            task.description,
        ]
        for task in tasks
    ]
    return fit_table(columns, rows, width=width, title="Tasks", wide=wide)


def runs_table(runs: Iterable[RunRecord], width: int, wide: bool = False) -> Fitted:
    columns = [
        Column("run", primary=True),
        Column("when (UTC)", drop=5),
        Column("task", primary=True),
        Column("model", primary=True),
        Column("status", primary=True),
        Column("output", flex=12, drop=4),
        Column("tokens", justify="right", drop=8),
        Column("latency", justify="right", drop=6),
        Column("cost", justify="right", drop=7),
    ]
    rows: list[list[str | Text]] = []
    for run in runs:
        status = Text(run.status.value, style="green" if run.status == "succeeded" else "red")
        shown = run.output if run.status == "succeeded" else (run.error_code or "")
        rows.append(
            [
                run.id,
                run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                f"{run.task_name} v{run.task_version}",
                run.model_id or "-",
                status,
                short(shown, 10_000 if wide else 60),
                f"{run.input_tokens}+{run.output_tokens}",
                f"{run.latency_ms:,.0f} ms",
                format_cost(run.cost_usd),
            ]
        )
    return fit_table(columns, rows, width=width, title="Recent runs", wide=wide)


def run_detail(run: RunRecord, width: int = 80, wide: bool = False, prompts: bool = False) -> Group:
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column(overflow="fold")
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
    columns = [
        Column("#", primary=True, justify="right"),
        Column("model", primary=True),
        Column("strategy", drop=4),
        Column("raw output", flex=12, drop=3),
        Column("errors", flex=16, wrap=True, primary=True),
        Column("tokens", justify="right", drop=6),
        Column("latency", justify="right", drop=5),
        Column("cost", justify="right", drop=7),
    ]
    attempts: list[list[str | Text]] = []
    for attempt in run.attempts:
        problems = attempt.validation_errors + (
            [f"{attempt.error_code}: {attempt.error_message}"] if attempt.error_code else []
        )
        attempts.append(
            [
                str(attempt.index),
                attempt.model_id,
                attempt.strategy,
                short(attempt.raw_output or "", 10_000 if wide else 200),
                Text("\n".join(problems) or "none", style="red" if problems else "green"),
                f"{attempt.input_tokens}+{attempt.output_tokens}",
                f"{attempt.latency_ms:,.0f} ms",
                format_cost(attempt.cost_usd),
            ]
        )
    if attempts:
        table, _ = fit_table(columns, attempts, width=width, title="Attempts", wide=wide)
    else:  # refused, or abandoned before a model answered
        table = Text("No attempts: no model was called.")
    parts: list[RenderableType] = [summary, Text(""), table]
    if prompts:
        for attempt in run.attempts:
            parts.append(Text(f"\nprompt of attempt {attempt.index} ({attempt.model_id})", "bold"))
            parts.append(_prompt_text(attempt.prompt, attempt.prompt_sha256))
    return Group(*parts)


def _prompt_text(prompt: str | None, sha256: str) -> Text:
    if prompt is None:
        return Text(f"only its SHA-256 is stored (ATOMIC_PROMPT_STORAGE=hash): {sha256}", "dim")
    try:
        messages = json.loads(prompt)
    except ValueError:
        return Text(prompt)
    out = Text()
    for message in messages if isinstance(messages, list) else [messages]:
        if isinstance(message, dict):
            out.append(f"[{message.get('role', '?')}]\n", style="cyan")
            out.append(f"{message.get('content', '')}\n")
        else:
            out.append(f"{message}\n")
    return out


def error_text(error: AtomicError) -> Text:
    """An error as plain lines wrapped between words, not boxed: ids, paths and URLs in it are
    only folded when wider than the screen, so they can be copied whole."""
    body = Text.assemble(("error ", "bold red"), (error.code, "bold red"), ": ", error.message)
    extra = getattr(error, "errors", None)
    tried = error.context.get("tried")
    if extra and not tried:
        body.append("\n" + "\n".join(f"  • {e}" for e in extra), style="dim")
    if isinstance(tried, list):
        body.append(f"\nmodels tried ({len(tried)}):")
        for entry in tried:
            if isinstance(entry, dict):
                body.append(f"\n  {entry.get('model')}", style="bold")
                for problem in entry.get("errors") or []:
                    body.append(f"\n    • {short(problem, 300)}", style="dim")
    run_id = error.context.get("run_id")
    if isinstance(run_id, str):
        body.append(f"\nrun {run_id} (atomic show {run_id})")
    if error.hint:
        body.append(f"\n→ {error.hint}", style="yellow")
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
