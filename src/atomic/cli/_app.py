"""The ``atomic`` command: models, tasks, run, runs, show, explain, feedback, task, demo."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import RenderableType

from atomic.errors import AtomicError, InputValidationError
from atomic.views._table import print_fitted

from . import _render
from ._adapt import feedback, task_app
from ._audit import audit_app
from ._bench import bench_app
from ._config_cli import config_app, init
from ._demo import demo
from ._lineage import lineage
from ._logging import route_library_logs
from ._output import EXIT_CODES_HELP, console, emit_json, err_console, fail, parse_since
from ._serve import bench_service, keys_app, serve
from ._temporal_cli import temporal_app, worker
from ._whatif import whatif
from ._workflows_cli import workflows_app

if TYPE_CHECKING:
    from datetime import datetime

    from pydantic import BaseModel

    from atomic._client import Atomic
    from atomic.settings import AtomicSettings
    from atomic.storage import RunRecord
    from atomic.tasks import Task

__all__ = ["app", "console", "err_console", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="atomic",
    help="Typed AI microtasks on a model exchange: run tasks on local and remote models, "
    "with output that always matches its type, and every call recorded.\n\n"
    "Models, tasks and settings come from atomic.toml (ATOMIC_CONFIG, else ./atomic.toml, "
    "else ATOMIC_HOME/atomic.toml; `atomic init` writes one, `atomic config check` checks it); "
    "ATOMIC_* environment variables override it (e.g. ATOMIC_HOME, ATOMIC_DATABASE_URL).\n\n"
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show the engines' own logs (DBOS, Temporal, llama.cpp, HTTP) on the "
            "terminal; otherwise they go to ATOMIC_HOME/atomic.log.",
        ),
    ] = False,
) -> None:
    route_library_logs(verbose)


DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (overrides ATOMIC_DATABASE_URL).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _settings(db: str | None = None, *, as_json: bool = False, **overrides: Any) -> AtomicSettings:
    """The settings (atomic.toml, then ATOMIC_* variables, then ``--db`` and ``overrides``);
    a bad value is one message naming the variable, not a traceback."""
    try:
        from atomic.settings import load_settings

        return load_settings(database_url=db, **overrides)
    except AtomicError as exc:
        fail(exc, as_json=as_json)


def _run(body: Callable[[], Awaitable[T]], *, as_json: bool = False) -> T:
    """Run an async command body, turning Atomic errors into a clear message and an exit code
    (1 failure, 2 usage, 3 not found); JSON on stderr under ``--json``."""
    try:
        return asyncio.run(body())  # type: ignore[arg-type]
    except AtomicError as exc:
        fail(exc, as_json=as_json)


async def _open(settings: AtomicSettings, *, restore: bool = True) -> Atomic:
    # Imported here: the store and the exchange take most of a second to import, and
    # `atomic --help` (or a usage error) should not wait for them.
    from atomic._client import Atomic

    return await Atomic.open(settings, restore=restore)


def _read_input(raw: str, task: Task[Any, Any]) -> Any:
    """A JSON object, ``@file.json``, or ``-`` for stdin; for a task whose input is one text
    field, anything but a JSON object is that text (``404`` is the text "404", not a number)."""
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
    fields = ", ".join(task.input.model_fields)
    required = [n for n, f in task.input.model_fields.items() if f.is_required()]
    one_text = len(required) == 1 and task.input.model_fields[required[0]].annotation is str
    try:
        data = json.loads(raw)
    except ValueError:
        data = _NOT_JSON
    if isinstance(data, dict):
        return data
    if one_text and not isinstance(data, list):
        return {required[0]: data if isinstance(data, str) else raw}
    shown = "not JSON" if data is _NOT_JSON else f"a JSON {type(data).__name__}"
    raise InputValidationError(
        f"input for task {task.name!r} is {shown}, not a JSON object: {raw[:60]!r}",
        errors=[f"input: expected a JSON object with the fields {fields}"],
        hint=f"pass a JSON object with the fields {fields}, or @file.json"
        + (f", or plain text for {required[0]}" if one_text else ""),
        context={"task": task.name, "input": raw[:200]},
    )


_NOT_JSON = object()


WideOption = Annotated[
    bool, typer.Option("--wide", help="Show every column and cut nothing, whatever the width.")
]


@app.command()
def models(db: DbOption = None, as_json: JsonOption = False, wide: WideOption = False) -> None:
    """List the registered models and their cards (atomic.toml, ATOMIC_* and learned ones)."""
    settings = _settings(db, as_json=as_json)

    async def body() -> None:
        from atomic.adaptation._learned import learned_card
        from atomic.models._registry import default_registry
        from atomic.structured import OutputKind
        from atomic.tasks import TaskCatalog
        from atomic.tasks._builtin import BUILTIN_TASKS

        cards = default_registry(settings).cards()
        if settings.learned_models:
            catalog = TaskCatalog(BUILTIN_TASKS if settings.builtin_tasks else ())
            for module in settings.task_modules:
                catalog.add_module(module)
            cards += [learned_card(t.name) for t in catalog if t.kind is OutputKind.LABEL]
        if as_json:
            emit_json([c.model_dump(mode="json") for c in cards])
        else:
            print_fitted(console, _render.models_table(cards, console.width, wide))

    _run(body, as_json=as_json)


@app.command()
def tasks(db: DbOption = None, as_json: JsonOption = False, wide: WideOption = False) -> None:
    """List the tasks this process knows (built-in ones and atomic.toml's task modules)."""
    settings = _settings(db, as_json=as_json)

    async def body() -> None:
        async with await _open(settings) as atomic:
            if as_json:
                emit_json([_task_json(t) for t in atomic.tasks])
            else:
                print_fitted(console, _render.tasks_table(atomic.tasks, console.width, wide))

    _run(body, as_json=as_json)


def _task_json(task: Task[Any, Any]) -> dict[str, Any]:
    return {
        "name": task.name,
        "version": task.version,
        "kind": task.kind.value,
        "description": task.description,
        "sensitivity": task.sensitivity.value,
        "checks": len(task.checks),
        "input": task.input.__name__,
        "input_schema": task.input.model_json_schema(),
    }


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="Task name (see `atomic tasks`).")],
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="The input: a JSON object, @file.json, - for stdin, or plain text for a task "
            "whose input is one text field.",
        ),
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Run on this model id only.")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a task on an input and print its typed output."""
    settings = _settings(db, as_json=as_json)

    async def body() -> None:
        async with await _open(settings) as atomic:
            spec = atomic.tasks.get(task)
            data = _read_input(input, spec)
            if model is not None:
                atomic.registry.get(model)
            try:
                result = await atomic.run(spec, data, model=model)
            except AtomicError as exc:
                await _add_models_tried(atomic, exc)
                raise
            output = spec.schema.dump(result.output)
            if as_json:
                emit_json(
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
                return
            console.print_json(json.dumps(output, ensure_ascii=False))
            console.print(
                f"[dim]{result.run_id} · {result.model_id} · {result.attempts} attempt(s) · "
                f"{result.usage.input_tokens}+{result.usage.output_tokens} tokens · "
                f"{result.latency_ms:,.0f} ms · {_render.format_cost(result.cost_usd)}[/dim]"
            )

    _run(body, as_json=as_json)


async def _add_models_tried(atomic: Atomic, error: AtomicError) -> None:
    """Put every model the failed run tried, and why each failed, in the error's context
    (from the stored attempts, unless the exchange already put them there)."""
    run_id = error.context.get("run_id")
    if not isinstance(run_id, str) or "tried" in error.context:
        return
    try:
        run = await atomic.get_run(run_id)
    except AtomicError:
        return
    tried: dict[str, list[str]] = {}
    for attempt in run.attempts:
        problems = list(attempt.validation_errors)
        if attempt.error_code:
            problems.append(f"{attempt.error_code}: {attempt.error_message}")
        tried.setdefault(attempt.model_id, []).extend(problems or ["no error recorded"])
    if tried:
        error.context["tried"] = [{"model": m, "errors": e} for m, e in tried.items()]


@app.command()
def runs(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs.")] = 20,
    task: Annotated[str | None, typer.Option("--task", help="Only this task's runs.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only runs this model served.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only runs with this status (succeeded, failed, …)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only runs created since then: an ISO date or time (UTC unless it says), or "
            "an age such as 30m, 2h, 7d.",
        ),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(
            "--before", help="Cursor: the last run id of the previous page; list the ones after."
        ),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    wide: WideOption = False,
) -> None:
    """List recent runs, newest first, filtered and paged.

    --json prints a JSON list; the next page is `--before <the last id>`."""
    settings = _settings(db, as_json=as_json)
    try:
        start = parse_since(since) if since is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None

    async def body() -> None:
        found = await _list_runs(settings, limit, task, model, status, start, before)
        if not found and (task is not None or model is not None):
            # Nothing matched: say so if the task or model named is not one Atomic knows.
            async with await _open(settings, restore=False) as atomic:
                _check_filters(atomic, task, model)
        if as_json:
            emit_json([r.model_dump(mode="json") for r in found])
        elif not found:
            filtered = any(v is not None for v in (task, model, status, since, before))
            console.print(
                "No runs match these filters."
                if filtered
                else "No runs yet. Try `atomic demo` or `atomic run TASK --input ...`."
            )
        else:
            print_fitted(console, _render.runs_table(found, console.width, wide))
            if len(found) == limit:
                console.print(
                    f"[dim]More: atomic runs --before {found[-1].id}[/dim]", soft_wrap=True
                )

    _run(body, as_json=as_json)


async def _list_runs(
    settings: AtomicSettings,
    limit: int,
    task: str | None,
    model: str | None,
    status: str | None,
    since: datetime | None,
    before: str | None,
) -> list[RunRecord]:
    """Runs straight from the store: listing them needs no model, task or learner, and
    `atomic runs` should answer in well under a second."""
    from atomic.storage import Store

    async with await Store.open(settings.resolved_database_url()) as store:
        return await store.list_runs(
            tenant=settings.tenant,
            limit=limit,
            task_name=task,
            model_id=model,
            status=status,
            since=since,
            before=before,
        )


def _check_filters(atomic: Atomic, task: str | None, model: str | None) -> None:
    """No run matched: say so if the task or model named is not one this process knows."""
    if task is not None:
        atomic.tasks.get(task)
    if model is not None:
        atomic.registry.get(model)


RunIdArgument = Annotated[str, typer.Argument(help="A run id (see `atomic runs`).")]


def _print_record(
    db: str | None,
    as_json: bool,
    fetch: Callable[[Atomic], Awaitable[BaseModel]],
    view: Callable[[Any], RenderableType],
) -> None:
    """Fetch one stored record and print it as JSON or as its view."""
    settings = _settings(db, as_json=as_json)

    async def body() -> None:
        async with await _open(settings, restore=False) as atomic:
            record = await fetch(atomic)
            if as_json:
                emit_json(record.model_dump(mode="json"))
            else:
                console.print(view(record))

    _run(body, as_json=as_json)


@app.command()
def show(
    run_id: RunIdArgument,
    db: DbOption = None,
    as_json: JsonOption = False,
    wide: WideOption = False,
    prompts: Annotated[
        bool,
        typer.Option("--prompts", help="Also print each attempt's prompt, message by message."),
    ] = False,
) -> None:
    """Show one run: input, output, and every attempt with its raw output and errors
    (--prompts adds the prompts; --json has everything)."""
    _print_record(
        db,
        as_json,
        lambda atomic: atomic.get_run(run_id),
        lambda record: _render.run_detail(record, console.width, wide, prompts),
    )


@app.command()
def explain(
    run_id: RunIdArgument,
    db: DbOption = None,
    as_json: JsonOption = False,
    wide: WideOption = False,
) -> None:
    """Explain why a run went to its model: every bid, exclusion, score and the runner-up."""
    from atomic.views._explain import explain_view

    _print_record(
        db,
        as_json,
        lambda atomic: atomic.explain(run_id),
        lambda record: explain_view(record, console.width, wide),
    )


app.command("demo")(demo)
app.command("feedback")(feedback)
app.command("whatif")(whatif)
app.command("lineage")(lineage)
app.add_typer(config_app, name="config")
app.add_typer(workflows_app, name="workflows")
app.command("init")(init)
app.add_typer(task_app, name="task")
app.command()(serve)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
bench_app.command(
    "service", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)(bench_service)
app.add_typer(bench_app, name="bench")
app.command("worker")(worker)
app.add_typer(temporal_app, name="temporal")


def main() -> None:
    """The ``atomic`` command. Under ``--json``, a usage error is JSON on stderr too."""
    if "--json" not in sys.argv[1:]:
        app()
        return
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:  # click's usage errors, as typer re-exports them
        shown = getattr(exc, "format_message", None)
        message = shown() if callable(shown) else str(exc)
        error = {
            "code": "usage",
            "message": message,
            "hint": "see `atomic --help` or `atomic COMMAND --help`",
            "retryable": False,
            "context": {"argv": sys.argv[1:]},
        }
        sys.stderr.write(json.dumps({"error": error}, ensure_ascii=False) + "\n")
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
