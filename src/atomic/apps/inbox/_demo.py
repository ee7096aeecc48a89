"""``atomic demo inbox``: a batch of support emails through ``handle_email``, scored per step.

The batch is the handwritten emails (with expected intent, facts, urgency and sentiment)
followed by Banking77 queries wrapped as emails (intent only). Before it, the tasks' memories
start from labelled history kept apart from the batch: Banking77 training queries for intent,
the seed emails (``seed_emails.jsonl``) for urgency and sentiment. Each email runs as one
workflow on the chosen runner; the summary shows per step the winners' shares, mean cost,
p50/p95 latency and accuracy against the expected answers, then throughput, and where the
runs and their explanations are.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from atomic._client import Atomic
from atomic.apps.inbox._emails import (
    DEFAULT_BANKING77,
    LabelledEmail,
    banking77_examples,
    demo_batch,
    load_emails,
)
from atomic.apps.inbox._runners import open_runner
from atomic.apps.inbox._score import FACT_FIELDS, BatchScore, Outcome, percentile, score_batch
from atomic.apps.inbox._seeds import load_seeds
from atomic.apps.inbox._tasks import urgency
from atomic.apps.inbox._workflow import Handled, handle_email
from atomic.errors import AtomicError, InputValidationError
from atomic.models import Model
from atomic.models._registry import default_registry
from atomic.settings import AtomicSettings
from atomic.tasks import Task
from atomic.tasks._builtin import banking77_intent, sentiment

__all__ = ["DEFAULT_BANKING77", "DEFAULT_SEED_PER_INTENT", "InboxReport", "run_inbox_demo"]

_CALIBRATION_ROUNDS = 5
"""Rounds in which the second half of a seed set is predicted, then learned (each round
grows the memory by more than the tenth that triggers a retraining)."""

DEFAULT_SEED_PER_INTENT = 10
"""Labelled Banking77 training queries per intent put in the intent task's memory first, as
a bank starts from its labelled history: the LLMs get the most similar ones as examples, and
the learned classifier trains on them. The batch's own emails are never among them."""


@dataclass
class InboxReport:
    """What the demo did: every email's outcome, the scores, and the wall time."""

    runner: str
    outcomes: list[Outcome]
    score: BatchScore
    seconds: float
    database: str

    @property
    def emails_per_minute(self) -> float:
        return len(self.outcomes) / self.seconds * 60 if self.seconds else 0.0


async def run_inbox_demo(
    settings: AtomicSettings,
    console: Console,
    *,
    limit: int | None = None,
    runner: str = "embedded",
    banking77: int = DEFAULT_BANKING77,
    banking77_path: Path | None = None,
    emails: Sequence[LabelledEmail] | None = None,
    models: Sequence[Model] | None = None,
    model_ids: Sequence[str] | None = None,
    feedback: bool = True,
    seed_per_intent: int = DEFAULT_SEED_PER_INTENT,
    seed_path: Path | None = None,
    seed_labels: bool = True,
) -> InboxReport:
    """Handle a batch of emails on ``runner``, print the summary, and return the report.

    ``emails`` replaces the default batch (and ``limit`` still cuts it); ``models`` replaces
    the models the settings register, ``model_ids`` picks some of those (the rules router is
    always added); ``feedback``
    records each email's expected intent, urgency and sentiment as ground truth after it is
    handled, so the exchange and the tasks' memories learn during the batch;
    ``seed_per_intent`` labelled queries per intent from ``seed_path`` (Banking77's train split
    by default) go into the intent task's memory before the batch, and with ``seed_labels``
    the seed emails (``seed_emails.jsonl``) into the memories of urgency and sentiment.
    """
    from atomic.apps.inbox._rules import open_inbox

    if models is None and model_ids:
        registry = default_registry(settings)
        models = [registry.get(model_id) for model_id in model_ids]
    notes: list[str] = []
    if emails is not None:
        batch = list(emails)[:limit] if limit is not None else list(emails)
    else:
        try:
            batch = demo_batch(limit, banking77=banking77, banking77_path=banking77_path)
        except InputValidationError as exc:  # outside a checkout: the handwritten emails only
            notes.append(f"{exc.message}; handling the handwritten emails only.")
            batch = load_emails()[:limit]
    # Workflow ids must be new for each demo run: a durable runner would otherwise hand back
    # the journaled results of an earlier run instead of handling the emails again.
    batch_id = uuid.uuid4().hex[:8]
    outcomes: list[Outcome] = []
    async with await open_inbox(settings, models=models) as atomic:
        await _seed_intents(atomic, seed_per_intent, seed_path, notes.append)
        if seed_labels:
            await _seed_urgency_and_sentiment(atomic, notes.append)
        async with open_runner(runner, atomic, [handle_email], notes.append) as wf_runner:
            for note in notes:
                console.print(f"[yellow]{note}[/yellow]")
            start = time.perf_counter()
            with _progress(console) as progress:
                bar = progress.add_task("inbox", total=len(batch))
                for item in batch:
                    progress.update(bar, description=f"{runner} · {item.email.id}")
                    began = time.perf_counter()
                    outcome = Outcome(item)
                    try:
                        handled = await wf_runner.run(
                            handle_email,
                            item.email,
                            workflow_id=f"inbox-{batch_id}-{item.email.id}",
                        )
                        outcome.handled = Handled.model_validate(handled)
                    except AtomicError as exc:
                        outcome.error = f"{exc.code}: {exc.message}"
                    outcome.seconds = time.perf_counter() - began
                    outcomes.append(outcome)
                    if feedback and outcome.handled is not None:
                        await _record_ground_truth(atomic, item, outcome.handled)
                    progress.advance(bar)
            seconds = time.perf_counter() - start
        report = InboxReport(runner, outcomes, score_batch(outcomes), seconds, atomic.store.url)
        _print_report(console, report, feedback=feedback)
    return report


async def _seed_intents(
    atomic: Atomic, per_intent: int, path: Path | None, note: Callable[[str], None]
) -> None:
    if per_intent <= 0:
        return
    try:
        examples = banking77_examples(per_intent, path=path)
    except InputValidationError as exc:  # outside a checkout: the demo still runs, unseeded
        note(f"{exc.message}; the intent task starts with an empty memory.")
        return
    kept = await _remember_calibrated(
        atomic, banking77_intent, [({"text": text}, intent) for text, intent in examples]
    )
    note(
        f"Seeded {banking77_intent.name}'s memory with {kept} labelled Banking77 training "
        f"queries ({per_intent} per intent); its learned classifier trains on them."
    )


async def _seed_urgency_and_sentiment(atomic: Atomic, note: Callable[[str], None]) -> None:
    """The seed emails (``seed_emails.jsonl``, none of them in the batch) into the memories
    of ``urgency`` and ``sentiment``."""
    seeds = load_seeds()
    kept = await _remember_calibrated(
        atomic, urgency, [(seed.content(), seed.urgency) for seed in seeds]
    )
    await _remember_calibrated(
        atomic, sentiment, [({"text": seed.content().text}, seed.sentiment) for seed in seeds]
    )
    note(
        f"Seeded the memories of {urgency.name} and {sentiment.name} with {kept} labelled "
        "seed emails written for the demo; their learned classifiers train on them."
    )


async def _remember_calibrated(
    atomic: Atomic, task: Task[Any, Any], examples: Sequence[tuple[Any, Any]]
) -> int:
    """Remember ``examples``: half at once, which trains the task's classifier, then the rest
    in rounds that it predicts before learning them.

    Remembered in one go, the examples would leave the classifier with no held-out judgement:
    it would bid its raw confidence with no evidence behind it, which the exchange draws from
    anywhere between 0 and 1. Each later round is judged by the classifier of the rounds
    before, as feedback would be, so it starts calibrated on half the seed set.
    """
    first = len(examples) // 2
    step = max(1, -(-(len(examples) - first) // _CALIBRATION_ROUNDS))
    chunks = [examples[:first]] + [
        examples[i : i + step] for i in range(first, len(examples), step)
    ]
    kept = 0
    for chunk in chunks:
        kept += await atomic.remember(task, list(chunk))
    return kept


def _progress(console: Console) -> Progress:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=console, transient=True)


async def _record_ground_truth(atomic: Atomic, item: LabelledEmail, handled: Handled) -> None:
    """The expected labels as ground-truth feedback on the runs that produced them."""
    expected = item.expected
    pairs: list[tuple[str, Any, Any]] = [
        ("intent", expected.intent, handled.intent),
        ("facts", expected.facts, handled.facts),
        ("urgency", expected.urgency, handled.urgency),
        ("sentiment", expected.sentiment, handled.sentiment),
    ]
    for name, want, got in pairs:
        trace = handled.steps[name]
        if want is None or trace.run_id is None or trace.error is not None:
            continue
        if want == got:
            await atomic.record_feedback(trace.run_id, "correct", source="ground_truth")
        else:
            output = want.model_dump(mode="json") if isinstance(want, BaseModel) else want
            await atomic.record_feedback(
                trace.run_id, "corrected", output=output, source="ground_truth"
            )


def _cost(usd: float) -> str:
    if usd == 0:
        return "$0"
    if usd < 5e-7:  # a learned model's nominal price: nothing worth six decimals
        return "≈$0"
    return f"${usd:.6f}" if usd < 0.01 else f"${usd:.4f}"


def _duration(ms: float) -> str:
    return f"{ms:,.0f} ms" if ms < 1000 else f"{ms / 1000:,.1f} s"


def _steps_table(report: InboxReport, width: int) -> tuple[RenderableType, int]:
    """Per step: winners, accuracy (never dropped), then runs, cost and latency while they
    fit; at 80 columns the secondary ones go first and the note says which."""
    from atomic.views._table import Column, fit_table

    columns = [
        Column("step", primary=True),
        Column("runs", drop=1, justify="right"),
        Column("winners (share)", primary=True),  # model ids are never cut
        Column("mean cost", drop=2, justify="right"),
        Column("latency p50 / p95", drop=3, justify="right"),
        Column("accuracy", primary=True, flex=12, wrap=True),
    ]
    rows: list[list[str | Text]] = []
    for step in report.score.steps.values():
        shares = "\n".join(f"{model} {share:.0%}" for model, share in step.shares())
        runs = str(step.succeeded) + (f" + {step.failed} failed" if step.failed else "")
        latency = (
            f"{_duration(percentile(step.latencies_ms, 50))} / "
            f"{_duration(percentile(step.latencies_ms, 95))}"
        )
        rows.append(
            [step.name, runs, shares or "-", _cost(step.mean_cost_usd), latency, step.quality]
        )
    title = f"atomic demo inbox: {len(report.outcomes)} emails on the {report.runner} runner"
    return fit_table(columns, rows, width=width, title=title)


def _facts_table(score: BatchScore) -> Table:
    table = Table(
        title=f"email-facts per field, on the {score.facts_scored} emails with expected facts",
        title_justify="left",
    )
    for column in ("field", "expected", "extracted", "right", "precision", "recall"):
        table.add_column(column, justify="left" if column == "field" else "right")
    for name in (*FACT_FIELDS, None):
        f = score.fields[name] if name else score.facts_total
        table.add_row(
            f.name,
            str(f.tp + f.fn),
            str(f.tp + f.fp),
            str(f.tp),
            "-" if f.precision is None else f"{f.precision:.2f}",
            "-" if f.recall is None else f"{f.recall:.2f}",
            style="bold" if name is None else "",
        )
    return table


def _print_report(console: Console, report: InboxReport, *, feedback: bool) -> None:
    score = report.score
    from atomic.views._table import print_fitted

    print_fitted(console, _steps_table(report, console.width))
    if score.facts_scored:
        console.print(_facts_table(score))
    written = sum(1 for o in report.outcomes if o.email.source == "handwritten")
    console.print(
        f"{len(report.outcomes)} emails ({written} handwritten, "
        f"{len(report.outcomes) - written} from Banking77) in {report.seconds:,.1f} s: "
        f"[bold]{report.emails_per_minute:.1f} emails per minute[/bold]; "
        f"{score.handled} handled, {score.failed} failed."
    )
    console.print(
        "[dim]Accuracy: intent on every email; urgency, sentiment and facts on the "
        "handwritten ones; route is the queue the rules give on the expected labels; reply "
        "is the share of drafts that passed the checks (cite the facts, do not echo the "
        "email). Steps that fail leave the email routed without facts or a draft.[/dim]"
    )
    if feedback:
        console.print(
            "[dim]The expected intent, facts, urgency and sentiment went back as ground-truth "
            "feedback after each email.[/dim]"
        )
    for outcome in report.outcomes:
        if outcome.error is not None:
            console.print(f"[red]{outcome.email.email.id}[/red]: {outcome.error}")
    example = next((o.handled for o in report.outcomes if o.handled is not None), None)
    console.print(f"Runs are stored in [bold]{report.database}[/bold].")
    if example is not None:
        run_id = example.steps["intent"].run_id
        console.print(
            f"Why a step went to its model: [bold]atomic explain {run_id}[/bold] "
            f"(the intent of {example.email_id}); the run itself: "
            f"[bold]atomic show {run_id}[/bold]; all runs: [bold]atomic runs[/bold]."
        )
