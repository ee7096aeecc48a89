"""``atomic demo``: the built-in tasks on sample support messages, on every local model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from atomic.errors import AtomicError

if TYPE_CHECKING:
    from atomic.settings import AtomicSettings
    from atomic.tasks import Task

from atomic.views._table import Column, fit_table

from . import _render
from ._output import console, emit_json, err_console

__all__ = ["DEMO_MESSAGES", "demo", "run_demo"]

DEMO_MESSAGES = (
    "I ordered my new card two weeks ago and it still hasn't arrived. What's going on?",
    "On 2024-05-14 I was charged 89.99 EUR twice at Zalando on my card ending 4821. "
    "Please refund the duplicate, order ref ZL-55102.",
)


def _demo_plan() -> tuple[tuple[Task[Any, Any], str], ...]:
    from atomic.tasks._builtin import banking77_intent, reply_draft, sentiment, transaction_facts

    return (
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
    from atomic._client import Atomic

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
            bar = progress.add_task("demo", total=len(chosen) * len(_demo_plan()))
            for model_id in chosen:
                for task, text in _demo_plan():
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


def demo(
    which: Annotated[
        str | None,
        typer.Argument(
            help="`inbox`: the inbox handler on a batch of support emails, scored per step. "
            "Omit it for the built-in tasks on every local model.",
            metavar="[inbox]",
            show_default=False,
        ),
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
    models: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Models to run (default: the built-in local models)."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            min=1,
            help="inbox: how many emails (default: the 36 handwritten ones and 12 from Banking77).",
            show_default=False,
        ),
    ] = None,
    runner: Annotated[
        str,
        typer.Option("--runner", help="inbox: the workflow runner: embedded, temporal, direct."),
    ] = "embedded",
    feedback: Annotated[
        bool,
        typer.Option(
            "--feedback/--no-feedback",
            help="inbox: after each email, record its expected answers as ground-truth "
            "feedback, as a reviewer would, so the next emails are handled better or cheaper.",
        ),
    ] = True,
    seed_per_intent: Annotated[
        int,
        typer.Option(
            "--seed-per-intent",
            min=0,
            help="inbox: labelled Banking77 training queries per intent remembered before the "
            "batch (0: start with an empty memory).",
        ),
    ] = 10,
    dashboard: Annotated[
        bool,
        typer.Option(
            "--dashboard",
            help="inbox: serve the live dashboard on 127.0.0.1 while the batch runs, and print "
            "its URL (with a key when the database has API keys).",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON (progress on stderr).")
    ] = False,
) -> None:
    """Run the built-in tasks on sample support messages, offline, on the local models;
    [bold]atomic demo inbox[/bold] runs the inbox handler on a batch of support emails."""
    from atomic.cli._app import _run, _settings

    if dashboard and which != "inbox":
        raise typer.BadParameter(
            "--dashboard goes with `atomic demo inbox`", param_hint="--dashboard"
        )
    settings = _settings(db, as_json=as_json)
    # Under --json the progress and tables go to stderr, and stdout holds only the JSON.
    screen = err_console if as_json else console
    if which is None:
        rows = _run(lambda: run_demo(settings, screen, models), as_json=as_json)
        if as_json:
            emit_json(to_jsonable_python(rows))
        return
    if dashboard and which != "inbox":
        raise typer.BadParameter(
            "--dashboard goes with `atomic demo inbox`", param_hint="--dashboard"
        )
    if which != "inbox":
        raise typer.BadParameter(f"no demo named {which!r}; there is: inbox", param_hint="WHICH")
    from atomic.apps.inbox._demo import run_inbox_demo
    from atomic.apps.inbox._runners import RUNNERS

    if runner not in RUNNERS:
        raise typer.BadParameter(
            f"{runner!r} is not a runner; choose {', '.join(RUNNERS)}", param_hint="--runner"
        )

    async def inbox() -> Any:
        return await run_inbox_demo(
            settings,
            screen,
            limit=limit,
            runner=runner,
            model_ids=models,
            feedback=feedback,
            seed_per_intent=seed_per_intent,
        )

    if dashboard:
        from atomic.apps.inbox import INBOX_TASKS
        from atomic.cli._dashboard import dashboard_server

        with dashboard_server(settings, INBOX_TASKS) as served:
            screen.print(f"Dashboard: [bold]{served.url}[/bold] (live while the batch runs)")
            report = _run(inbox, as_json=as_json)
        screen.print(
            "The dashboard stopped with the batch; to keep looking, run [bold]atomic serve"
            "[/bold] and open /dashboard."
        )
    else:
        report = _run(inbox, as_json=as_json)
    if as_json:
        emit_json(to_jsonable_python(report) | {"emails_per_minute": report.emails_per_minute})
