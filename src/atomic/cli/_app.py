"""The ``atomic`` command: models, tasks, run, runs, show, explain, feedback, task, demo."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console, RenderableType

from atomic._client import Atomic
from atomic.errors import AtomicError, InputValidationError
from atomic.settings import AtomicSettings
from atomic.tasks import Task

from . import _render
from ._adapt import feedback, task_app
from ._bench import bench_app
from ._serve import bench_service, keys_app, serve
from ._temporal_cli import temporal_app, worker

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="atomic",
    help="Typed AI microtasks on a model exchange: run tasks on local and remote models, "
    "with output that always matches its type, and every call recorded.\n\n"
    "Settings come from ATOMIC_* environment variables (e.g. ATOMIC_HOME, ATOMIC_DATABASE_URL, "
    "ATOMIC_OPENAI_BASE_URL, ATOMIC_OPENAI_MODELS).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (overrides ATOMIC_DATABASE_URL).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _settings(db: str | None = None, **overrides: Any) -> AtomicSettings:
    try:
        settings = AtomicSettings()
    except ValueError as exc:  # pydantic's ValidationError: a bad ATOMIC_* variable
        raise AtomicError(
            f"invalid Atomic settings: {exc}", hint="fix the ATOMIC_* environment variable named"
        ) from exc
    changes = {k: v for k, v in {"database_url": db, **overrides}.items() if v is not None}
    return settings.model_copy(update=changes) if changes else settings


def _run(body: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body, turning Atomic errors into a clear message and exit code 2."""
    try:
        return asyncio.run(body())  # type: ignore[arg-type]
    except AtomicError as exc:
        err_console.print(_render.error_panel(exc))
        raise typer.Exit(code=2) from None


async def _open(settings: AtomicSettings) -> Atomic:
    return await Atomic.open(settings)


def _read_input(raw: str, task: Task[Any, Any]) -> Any:
    """JSON text, ``@file.json``, or ``-`` for stdin; plain text fills a one-field input."""
    if raw == "-":
        raw = sys.stdin.read()
    elif raw.startswith("@"):
        path = Path(raw[1:])
        try:
            raw = path.read_text()
        except OSError as exc:
            raise InputValidationError(
                f"cannot read input file {path}: {exc.strerror}",
                errors=[str(exc)],
                hint="check the path after @",
                context={"path": str(path)},
            ) from exc
    try:
        return json.loads(raw)
    except ValueError:
        fields = [n for n, f in task.input.model_fields.items() if f.is_required()]
        if len(fields) == 1 and task.input.model_fields[fields[0]].annotation is str:
            return {fields[0]: raw}
        raise InputValidationError(
            f"input for task {task.name!r} is not JSON: {raw[:60]!r}",
            errors=["input: not valid JSON"],
            hint=f"pass a JSON object with the fields {', '.join(task.input.model_fields)}, "
            "or @file.json",
            context={"task": task.name},
        ) from None


@app.command()
def models(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List the registered models and their cards."""
    settings = _settings(db)

    async def body() -> None:
        from atomic.adaptation._learned import learned_card
        from atomic.models._registry import default_registry
        from atomic.structured import OutputKind
        from atomic.tasks import TaskCatalog
        from atomic.tasks._builtin import BUILTIN_TASKS

        cards = default_registry(settings).cards()
        if settings.learned_models:
            catalog = TaskCatalog(BUILTIN_TASKS)
            for module in settings.task_modules:
                catalog.add_module(module)
            cards += [learned_card(t.name) for t in catalog if t.kind is OutputKind.LABEL]
        if as_json:
            console.print_json(json.dumps([c.model_dump(mode="json") for c in cards]))
        else:
            console.print(_render.models_table(cards))

    _run(body)


@app.command()
def tasks(db: DbOption = None) -> None:
    """List the tasks this process knows (built-in ones and ATOMIC_TASK_MODULES)."""
    settings = _settings(db)

    async def body() -> None:
        async with await _open(settings) as atomic:
            console.print(_render.tasks_table(atomic.tasks))

    _run(body)


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="Task name (see `atomic tasks`).")],
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="The input: JSON, @file.json, - for stdin, or plain text for one-field inputs.",
        ),
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Run on this model id only.")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a task on an input and print its typed output."""
    settings = _settings(db)

    async def body() -> None:
        async with await _open(settings) as atomic:
            spec = atomic.tasks.get(task)
            data = _read_input(input, spec)
            if model is not None:
                atomic.registry.get(model)
            result = await atomic.run(spec, data, model=model)
            output = spec.schema.dump(result.output)
            if as_json:
                console.print_json(
                    json.dumps(
                        {
                            "run_id": result.run_id,
                            "model": result.model_id,
                            "output": output,
                            "attempts": result.attempts,
                            "input_tokens": result.usage.input_tokens,
                            "output_tokens": result.usage.output_tokens,
                            "cost_usd": result.cost_usd,
                            "latency_ms": result.latency_ms,
                        }
                    )
                )
                return
            console.print_json(json.dumps(output, ensure_ascii=False))
            console.print(
                f"[dim]{result.run_id} · {result.model_id} · {result.attempts} attempt(s) · "
                f"{result.usage.input_tokens}+{result.usage.output_tokens} tokens · "
                f"{result.latency_ms:,.0f} ms · {_render.format_cost(result.cost_usd)}[/dim]"
            )

    _run(body)


@app.command()
def runs(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs.")] = 20,
    task: Annotated[str | None, typer.Option("--task", help="Only this task's runs.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List recent runs, newest first."""
    settings = _settings(db)

    async def body() -> None:
        async with await _open(settings) as atomic:
            found = await atomic.list_runs(limit=limit, task=task)
            if as_json:
                console.print_json(json.dumps([r.model_dump(mode="json") for r in found]))
            elif not found:
                console.print("No runs yet. Try `atomic demo` or `atomic run TASK --input ...`.")
            else:
                console.print(_render.runs_table(found))

    _run(body)


RunIdArgument = Annotated[str, typer.Argument(help="A run id (see `atomic runs`).")]


def _print_record(
    db: str | None,
    as_json: bool,
    fetch: Callable[[Atomic], Awaitable[BaseModel]],
    view: Callable[[Any], RenderableType],
) -> None:
    """Fetch one stored record and print it as JSON or as its view."""
    settings = _settings(db)

    async def body() -> None:
        async with await _open(settings) as atomic:
            record = await fetch(atomic)
            if as_json:
                console.print_json(record.model_dump_json())
            else:
                console.print(view(record))

    _run(body)


@app.command()
def show(run_id: RunIdArgument, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show one run: input, output, and every attempt with its prompt, raw output and errors."""
    _print_record(db, as_json, lambda atomic: atomic.get_run(run_id), _render.run_detail)


@app.command()
def explain(run_id: RunIdArgument, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Explain why a run went to its model: every bid, exclusion, score and the runner-up."""
    from atomic.cli._explain import explain_view

    _print_record(db, as_json, lambda atomic: atomic.explain(run_id), explain_view)


@app.command()
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
    db: DbOption = None,
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
) -> None:
    """Run the built-in tasks on sample support messages, offline, on the local models;
    [bold]atomic demo inbox[/bold] runs the inbox handler on a batch of support emails."""
    settings = _settings(db)
    if which is None:
        from atomic.cli._demo import run_demo

        _run(lambda: run_demo(settings, console, models))
        return
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
            console,
            limit=limit,
            runner=runner,
            model_ids=models,
            feedback=feedback,
            seed_per_intent=seed_per_intent,
        )

    _run(inbox)


app.command("feedback")(feedback)
app.add_typer(task_app, name="task")
app.command()(serve)
app.add_typer(keys_app, name="keys")
bench_app.command(
    "service", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)(bench_service)
app.add_typer(bench_app, name="bench")
app.command("worker")(worker)
app.add_typer(temporal_app, name="temporal")


def main() -> None:
    app()
