"""Feedback on a run, through one path: validated, counted once by the learner, remembered
by the task's adaptation, and persisted before it is acknowledged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from atomic.adaptation import FeedbackKind, FeedbackSource, input_key, reward_of
from atomic.adaptation._feedback import REMEMBER_SCORE, feedback_id
from atomic.errors import FeedbackConflictError, FeedbackError
from atomic.events import FeedbackApplied
from atomic.storage import FeedbackRecord, FeedbackWrite, MemoryRecord, RunStatus
from atomic.structured import format_validation_errors
from atomic.tasks import Task

if TYPE_CHECKING:
    from atomic.exchange._exchange import Exchange

__all__ = ["record_feedback"]

_NO_OUTPUT: Any = object()


def _parse_kind(kind: FeedbackKind | str) -> FeedbackKind:
    try:
        return FeedbackKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in FeedbackKind)
        raise FeedbackError(
            f"unknown feedback kind {kind!r}",
            hint=f"use one of {kinds}",
            context={"kind": str(kind)},
        ) from None


def _parse_source(source: str) -> str:
    try:
        return FeedbackSource(source).value
    except ValueError:
        sources = ", ".join(s.value for s in FeedbackSource)
        raise FeedbackError(
            f"unknown feedback source {source!r}",
            hint=f"use one of {sources}",
            context={"source": source},
        ) from None


def _corrected(
    task: Task[Any, Any] | None, run_id: str, task_name: str, output: Any, task_input: Any
) -> Any:
    if output is _NO_OUTPUT:
        raise FeedbackError(
            f"a correction of run {run_id!r} needs the corrected output",
            hint="pass output=... (in the CLI, --corrected JSON)",
            context={"run_id": run_id},
        )
    if task is None:
        raise FeedbackError(
            f"task {task_name!r} of run {run_id!r} is not registered, so a correction "
            "cannot be validated",
            hint="register the task (Atomic.open(tasks=[...]) or ATOMIC_TASK_MODULES)",
            context={"run_id": run_id, "task": task_name},
        )
    try:
        corrected = task.schema.validate(output)
    except ValidationError as exc:
        errors = format_validation_errors(exc)
        raise FeedbackError(
            f"the correction of run {run_id!r} is not a valid {task.name} output: "
            + "; ".join(errors),
            errors=errors,
            hint="correct the fields listed; `atomic tasks` shows each task's output type",
            context={"run_id": run_id, "task": task.name, "output": output},
        ) from None
    failed = [c for c in task.run_checks(task.parse_input(task_input), corrected) if not c.passed]
    if failed:
        reasons = [f"check {c.name}: {c.reason}" for c in failed]
        raise FeedbackError(
            f"the correction of run {run_id!r} fails task {task.name!r}'s own checks: "
            + "; ".join(reasons),
            errors=reasons,
            hint="a correction must be an output the task would accept; fix what the checks say",
            context={"run_id": run_id, "task": task.name, "output": output},
        )
    return corrected


async def record_feedback(
    exchange: Exchange,
    run_id: str,
    kind: FeedbackKind | str,
    *,
    task: Task[Any, Any] | None = None,
    output: Any = _NO_OUTPUT,
    score: float | None = None,
    source: str = "human",
    comment: str | None = None,
    id: str | None = None,
    tenant: str | None = None,
) -> FeedbackRecord:
    """See :meth:`atomic.Atomic.record_feedback`."""
    tenant = tenant or exchange.settings.tenant
    kind = _parse_kind(kind)
    source = _parse_source(source)
    if kind is FeedbackKind.SCORE:
        if score is None or not 0.0 <= float(score) <= 1.0:
            raise FeedbackError(
                f"a score must be a number in [0, 1], got {score!r}",
                hint="pass score=0.0 … 1.0 (in the CLI, --score X)",
                context={"run_id": run_id, "score": score},
            )
        score = float(score)
    elif score is not None:
        raise FeedbackError(
            f"a score was given with feedback of kind {kind.value!r}",
            hint="give either a score (kind `score`) or a verdict, not both",
            context={"run_id": run_id, "kind": kind.value},
        )
    run = await exchange.store.get_run(run_id, tenant=tenant)
    answered = run.status == RunStatus.SUCCEEDED and run.model_id is not None
    if not answered and kind is not FeedbackKind.CORRECTED:
        raise FeedbackError(
            f"run {run_id!r} returned no output ({run.status.value}), so there is nothing to "
            f"judge {kind.value}",
            hint="give the right output instead: kind `corrected` (in the CLI, --corrected "
            "JSON); it becomes an example the task learns from",
            context={"run_id": run_id, "status": run.status.value, "kind": kind.value},
        )
    corrected = None
    stored_output = None
    if kind is FeedbackKind.CORRECTED:
        corrected = _corrected(task, run_id, run.task_name, output, run.input)
        assert task is not None
        stored_output = task.schema.dump(corrected)
    # A run without output has no model answer to credit or blame: the learner counts
    # nothing (its invalid outputs were counted when it ran), and the reward stored is 0.
    reward = reward_of(kind, same_output=stored_output == run.output, score=score)
    if not answered:
        reward = 0.0
    fid = id or feedback_id(run_id, kind, stored_output, score, source)

    existing = await exchange.store.get_feedback(fid, tenant=tenant)
    if existing is not None:
        same = (existing.run_id, existing.kind, existing.output, existing.score, existing.source)
        if same == (run_id, kind.value, stored_output, score, source):
            return existing  # the same feedback again: counted once
        raise FeedbackConflictError(
            f"feedback {fid!r} was already recorded with a different verdict "
            f"({existing.kind} on {existing.run_id})",
            hint="give new feedback a new id; feedback ids are idempotency keys",
            context={"feedback_id": fid, "run_id": run_id},
        )
    earlier = [
        f.id
        for f in await exchange.store.list_feedback(run_id, tenant=tenant)
        if f.superseded_by is None
    ]

    outcome, learning = (
        await exchange.count_outcome(run, reward, source) if answered else (None, None)
    )
    remember: list[MemoryRecord] = []
    forget: list[str] = []
    adaptation = exchange.adaptation
    if adaptation is not None and task is not None:
        # Earlier feedback on this run may have put its output in memory: this word replaces it.
        forget += adaptation.unlearn_run(tenant, task.name, run_id)
        verified = corrected
        confirmed = kind is FeedbackKind.CORRECT or (
            kind is FeedbackKind.SCORE and score is not None and score >= REMEMBER_SCORE
        )
        if confirmed:
            verified = task.schema.validate(run.output)
        if verified is not None:
            change = adaptation.learn(
                task, tenant, run.input, verified, source=source, run_id=run_id, feedback_id=fid
            )
            if change is not None and change.kept:
                kept = adaptation.memory(tenant, task.name).get_by_key(input_key(run.input))
                if kept is not None:
                    remember.append(kept)
                forget += [e.id for e in change.evicted]
    record = FeedbackRecord(
        id=fid,
        tenant=tenant,
        run_id=run_id,
        task_name=run.task_name,
        model_id=run.model_id,
        kind=kind.value,
        output=stored_output,
        score=score,
        reward=reward,
        source=source,
        comment=comment,
    )
    state = adaptation.state_record(tenant, run.task_name) if adaptation and task else None
    await exchange.store.save_feedback(
        FeedbackWrite(
            record,
            outcome=outcome,
            learning=learning,
            supersedes=earlier,
            remember=remember,
            forget=[f for f in forget if f not in {r.id for r in remember}],
            state=state,
        )
    )
    await exchange.events.publish(FeedbackApplied(record))
    # Accepted and persisted; retraining may take a moment and is saved on its own, the new
    # weights with it, so the next process loads them instead of retraining.
    if adaptation is not None and task is not None:
        refitted = await adaptation.refit(tenant, task.name)
        if refitted is not None:
            await exchange.store.save_adaptation(
                state=adaptation.state_record(tenant, task.name), classifier=refitted
            )
    return record
