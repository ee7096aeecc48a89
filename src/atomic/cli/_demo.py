"""``atomic demo``: the built-in tasks on sample support messages, on every local model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from atomic._client import Atomic
from atomic.errors import AtomicError
from atomic.settings import AtomicSettings
from atomic.tasks._builtin import banking77_intent, reply_draft, sentiment, transaction_facts

from . import _render
from ._table import Column, fit_table

__all__ = ["DEMO_MESSAGES", "run_demo"]

DEMO_MESSAGES = (
    "I ordered my new card two weeks ago and it still hasn't arrived. What's going on?",
    "On 2024-05-14 I was charged 89.99 EUR twice at Zalando on my card ending 4821. "
    "Please refund the duplicate, order ref ZL-55102.",
)

DEMO_PLAN = (
    (banking77_intent, DEMO_MESSAGES[0]),
    (sentiment, DEMO_MESSAGES[0]),
    (transaction_facts, DEMO_MESSAGES[1]),
    (reply_draft, DEMO_MESSAGES[1]),
)


@dataclass
class DemoRow:
    task: str
    model: str
    output: str
    ok: bool
    tokens: str
    latency_ms: float
    cost_usd: float
    run_id: str


async def run_demo(
    settings: AtomicSettings, console: Console, model_ids: Sequence[str] | None = None
) -> list[DemoRow]:
    """Run every demo task on every chosen model, print the table, and return its rows."""
    rows: list[DemoRow] = []
    async with await Atomic.open(settings) as atomic:
        chosen = list(model_ids) if model_ids else [m.id for m in atomic.registry]
        for model_id in chosen:
            atomic.registry.get(model_id)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            bar = progress.add_task("demo", total=len(chosen) * len(DEMO_PLAN))
            for model_id in chosen:
                for task, text in DEMO_PLAN:
                    progress.update(bar, description=f"{task.name} on {model_id}")
                    try:
                        result = await atomic.run(task, {"text": text}, model=model_id)
                    except AtomicError as exc:
                        run_id = str(exc.context.get("run_id", "-"))
                        record = await atomic.get_run(run_id) if run_id != "-" else None
                        rows.append(
                            DemoRow(
                                task.name,
                                model_id,
                                f"{exc.code}: {exc.message}",
                                False,
                                f"{record.input_tokens}+{record.output_tokens}" if record else "-",
                                record.latency_ms if record else 0.0,
                                record.cost_usd if record else 0.0,
                                run_id,
                            )
                        )
                    else:
                        rows.append(
                            DemoRow(
                                task.name,
                                model_id,
                                _render.short(task.schema.dump(result.output), 70),
                                True,
                                f"{result.usage.input_tokens}+{result.usage.output_tokens}",
                                result.latency_ms,
                                result.cost_usd,
                                result.run_id,
                            )
                        )
                    progress.advance(bar)
        console.print(_demo_table(rows, console.width))
        console.print(
            f"Runs are stored in [bold]{atomic.store.url}[/bold]. "
            "See one with [bold]atomic show RUN_ID[/bold], all with [bold]atomic runs[/bold]."
        )
    return rows


def _demo_table(rows: Sequence[DemoRow], width: int) -> RenderableType:
    columns = [
        Column("run", primary=True),
        Column("task", primary=True),
        Column("winner model", primary=True),
        Column("output", primary=True, flex=12),
        Column("tokens", justify="right", drop=3),
        Column("latency", justify="right", drop=2),
        Column("cost", justify="right", drop=1),
    ]
    cells: list[list[str | Text]] = [
        [
            row.run_id,
            row.task,
            row.model,
            Text(row.output, style="" if row.ok else "red"),
            row.tokens,
            f"{row.latency_ms:,.0f} ms",
            _render.format_cost(row.cost_usd),
        ]
        for row in rows
    ]
    title = "atomic demo: built-in tasks on local models"
    return fit_table(columns, cells, width=width, title=title)[0]
