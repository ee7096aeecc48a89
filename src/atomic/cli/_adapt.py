"""``atomic feedback`` and ``atomic task show|reset|freeze|unfreeze``: adaptation by hand."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.table import Table

from atomic.errors import FeedbackError

if TYPE_CHECKING:
    from atomic.adaptation import AdaptationStatus

__all__ = ["feedback", "task_app"]

task_app = typer.Typer(
    help="Inspect, reset or freeze what a task has learned from feedback.",
    no_args_is_help=True,
)

TaskArgument = Annotated[str, typer.Argument(help="Task name (see `atomic tasks`).")]


def feedback(
    run_id: Annotated[str, typer.Argument(help="The run the feedback is about.")],
    correct: Annotated[bool, typer.Option("--correct", help="The output was right.")] = False,
    incorrect: Annotated[bool, typer.Option("--incorrect", help="The output was wrong.")] = False,
    corrected: Annotated[
        str | None,
        typer.Option(
            "--corrected",
            help='The right output as JSON (a label task takes "label" or {"label": ...}).',
        ),
    ] = None,
    score: Annotated[
        float | None, typer.Option("--score", min=0.0, max=1.0, help="A grade in [0, 1].")
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="human, ground_truth, judge or check.")
    ] = "human",
    comment: Annotated[str | None, typer.Option("--comment", help="A note kept with it.")] = None,
    feedback_id: Annotated[
        str | None,
        typer.Option("--id", help="Idempotency key (default: derived from the verdict)."),
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Say how a run went: the exchange and the task's memory learn from it at once
    (a frozen task's memory is left alone; the output says so)."""
    from atomic.cli._app import _open, _run, _settings, console
    from atomic.cli._output import emit_json

    chosen = [
        name
        for name, given in (
            ("correct", correct),
            ("incorrect", incorrect),
            ("corrected", corrected is not None),
            ("score", score is not None),
        )
        if given
    ]
    if len(chosen) != 1:
        raise typer.BadParameter(
            "give exactly one of --correct, --incorrect, --corrected JSON, --score X "
            f"(got {', '.join(chosen) or 'none'})"
        )
    kind = chosen[0]
    output: Any = None
    if corrected is not None:
        try:
            output = json.loads(corrected)
        except ValueError:
            output = corrected  # a bare label needs no quotes

    async def body() -> None:
        async with await _open(_settings(db, as_json=as_json)) as atomic:
            if kind == "corrected" and output is None:
                raise FeedbackError("--corrected needs a value", hint="pass the right output")
            record = await atomic.record_feedback(
                run_id,
                kind,
                output=output,
                score=score,
                source=source,
                comment=comment,
                id=feedback_id,
            )
            frozen = atomic.adaptation.is_frozen(record.tenant, record.task_name)
            if as_json:
                emit_json({**record.model_dump(mode="json"), "task_frozen": frozen})
                return
            console.print(
                f"Recorded {record.kind} feedback [bold]{record.id}[/bold] on {run_id} "
                f"(reward {record.reward:g} for {record.model_id}, source {record.source}).",
                soft_wrap=True,
            )
            if frozen:
                console.print(
                    f"{record.task_name} is frozen: the exchange counted this outcome for "
                    f"{record.model_id}'s bids, but the task's memory and classifier were left "
                    f"as they are (`atomic task unfreeze {record.task_name}` lets it learn "
                    "again; feedback given meanwhile is not replayed)."
                )

    _run(body, as_json=as_json)


def status_view(status: AdaptationStatus) -> RenderableType:
    summary = Table(show_header=False, box=None, title=f"{status.task_name} · {status.tenant}")
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("adaptation", "frozen" if status.frozen else "learning")
    by_source = ", ".join(f"{n} {s}" for s, n in sorted(status.memory_by_source.items()))
    summary.add_row(
        "memory",
        f"{status.memory_size:,} of {status.memory_capacity:,} examples"
        + (f" ({by_source})" if by_source else ""),
    )
    classifier = status.classifier
    if classifier is None:
        summary.add_row("classifier", "none (only label tasks learn one)")
    elif not classifier.trained:
        summary.add_row("classifier", f"{classifier.model_id}: not trained yet")
    else:
        accuracy = (
            f"{classifier.heldout_accuracy:.1%} on the last {classifier.heldout_judgements} "
            "held-out judgements"
            if classifier.heldout_accuracy is not None
            else "no held-out judgements yet"
        )
        summary.add_row(
            "classifier",
            f"{classifier.model_id} v{classifier.version}, trained on "
            f"{classifier.trained_on:,} examples; {accuracy}",
        )
    beliefs = Table(title="What each model's bid rests on (P(correct) = correctness × validity)")
    beliefs.add_column("model", no_wrap=True)
    beliefs.add_column("P(correct)", justify="right")
    beliefs.add_column("evidence")
    for estimate in status.estimates:
        beliefs.add_row(estimate.model_id, f"{estimate.p_correct:.2f}", estimate.source)
    shares = Table(title="Winners of the last 500 successful runs")
    shares.add_column("model")
    shares.add_column("runs", justify="right")
    shares.add_column("share", justify="right")
    total = sum(status.win_shares.values())
    for model_id, count in sorted(status.win_shares.items(), key=lambda kv: -kv[1]):
        shares.add_row(model_id, f"{count:,}", f"{count / total:.0%}")
    parts: list[RenderableType] = [summary]
    if status.estimates:
        parts.append(beliefs)
    if total:
        parts.append(shares)
    return Group(*parts)


@task_app.command("show")
def show(
    task: TaskArgument,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What a task has learned: memory size, classifier version and accuracy, win shares."""
    from atomic.cli._app import _open, _run, _settings, console
    from atomic.cli._output import emit_json

    settings = _settings(db, as_json=as_json)

    async def body() -> None:
        async with await _open(settings) as atomic:
            status = await atomic.task_status(task)
            if as_json:
                emit_json(asdict(status))
            else:
                console.print(status_view(status))

    _run(body, as_json=as_json)


@task_app.command("reset")
def reset(
    task: TaskArgument,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")
    ] = False,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
) -> None:
    """Forget a task's memory and classifier (runs and feedback stay recorded). Asks first,
    unless --yes."""
    from atomic.cli._app import _open, _run, _settings, console

    async def size() -> int:
        async with await _open(_settings(db)) as atomic:
            atomic.tasks.get(task)
            return (await atomic.task_status(task)).memory_size

    if not yes:
        held = _run(size)
        # No answer (stdin closed, as in a script without --yes) is a no, like any but "y".
        if not typer.confirm(
            f"Forget {task}'s {held:,} remembered examples and its classifier?",
            default=False,
            err=True,
        ):
            console.print("Nothing was reset (pass --yes to skip this question).")
            raise typer.Exit(code=1)

    async def body() -> None:
        async with await _open(_settings(db)) as atomic:
            atomic.tasks.get(task)
            dropped = await atomic.adaptation.reset(task, tenant=atomic.settings.tenant)
            console.print(f"Reset {task}: {dropped:,} remembered examples dropped.")

    _run(body)


def _freeze(task: str, db: str | None, frozen: bool) -> None:
    from atomic.cli._app import _open, _run, _settings, console

    async def body() -> None:
        async with await _open(_settings(db)) as atomic:
            atomic.tasks.get(task)
            await atomic.adaptation.freeze(task, frozen=frozen, tenant=atomic.settings.tenant)
            state = "frozen: its memory and classifier stay as they are" if frozen else "learning"
            console.print(f"{task} is {state}.")

    _run(body)


@task_app.command("freeze")
def freeze(
    task: TaskArgument,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
) -> None:
    """Stop a task's memory and classifier from changing (feedback is still recorded)."""
    _freeze(task, db, True)


@task_app.command("unfreeze")
def unfreeze(
    task: TaskArgument,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
) -> None:
    """Let a frozen task learn from feedback again."""
    _freeze(task, db, False)
