"""``handle_email``: one support email through intent, facts, urgency, sentiment, route, reply.

Every model call is a :func:`~atomic.workflows.step`, so the same function runs on the direct,
embedded (DBOS) and Temporal runners; the code between steps is deterministic (no clocks,
randomness or I/O), as replay needs.

```python
async with await open_inbox(settings) as atomic:
    handled = await DirectRunner(atomic).run(handle_email, email)
    print(handled.route.queue, handled.reply)
```
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from atomic.apps.inbox._emails import Email
from atomic.apps.inbox._rules import ROUTER_ID
from atomic.apps.inbox._tasks import (
    EmailFacts,
    ReplyInput,
    RouteDecision,
    RouteInput,
    Sentiment,
    Urgency,
    email_facts,
    reply,
    route,
    urgency,
)
from atomic.tasks._builtin import Banking77Intent, banking77_intent, sentiment
from atomic.workflows import TypedStep, step, workflow

__all__ = ["STEP_NAMES", "Handled", "StepTrace", "handle_email"]

Out = TypeVar("Out")

STEP_NAMES = ("intent", "facts", "urgency", "sentiment", "route", "reply")
"""The workflow's steps, in order; the keys of :attr:`Handled.steps`."""


class StepTrace(BaseModel):
    """What one step took: its run (``atomic explain RUN_ID``), winner, cost and latency."""

    task: str
    run_id: str | None = None
    model_id: str | None = None
    attempts: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    latency_ms: float = Field(default=0.0, ge=0)
    error: str | None = Field(
        default=None, description="Why the step failed, when the workflow went on without it."
    )


class Handled(BaseModel):
    """An email, handled: what it is about, its facts, where it goes, and a draft reply."""

    email_id: str
    intent: Banking77Intent
    facts: EmailFacts
    urgency: Urgency
    sentiment: Sentiment
    route: RouteDecision
    reply: str | None = Field(
        description="The draft, or None when no model wrote one that passed the reply checks "
        "(an agent then writes it)."
    )
    steps: dict[str, StepTrace]


def _trace(done: TypedStep[Any]) -> StepTrace:
    result = done.result
    return StepTrace(
        task=result.task,
        run_id=result.run_id,
        model_id=result.model_id,
        attempts=result.attempts,
        cost_usd=result.cost_usd,
        latency_ms=result.latency_ms,
    )


def _failure(task: str, exc: Exception) -> StepTrace:
    # An AtomicError carries the failed run's id; a Temporal ActivityError does not.
    context = getattr(exc, "context", None)
    run_id = context.get("run_id") if isinstance(context, dict) else None
    code = getattr(exc, "code", type(exc).__name__)
    return StepTrace(task=task, run_id=run_id, error=f"{code}: {exc}"[:300])


async def _best_effort(call: Awaitable[TypedStep[Out]], task: str) -> TypedStep[Out] | StepTrace:
    """A step the email can be handled without: its result, or the trace of its failure.

    Any exception, because runners report a failed step differently (an ``AtomicError`` in
    process, Temporal's ``ActivityError``); catching it is deterministic, since the failure
    itself is journaled.
    """
    try:
        return await call
    except Exception as exc:
        return _failure(task, exc)


@workflow
async def handle_email(email: Email) -> Handled:
    """Classify, extract, assess, route and answer one support email."""
    content = email.content()
    message = {"text": content.text}
    intent = await step(banking77_intent, message)
    # Facts and the reply are checked against the email; when no model gets them right the
    # email is still routed (with no facts, or no draft) instead of being dropped.
    facts = await _best_effort(step(email_facts, content), email_facts.name)
    level = await step(urgency, content)
    mood = await step(sentiment, message)
    found = facts.output if isinstance(facts, TypedStep) else EmailFacts()
    routed = await step(
        route,
        RouteInput(intent=intent.output, urgency=level.output, sentiment=mood.output),
        model=ROUTER_ID,  # routing is policy: only the rules decide it
    )
    draft = await _best_effort(
        step(
            reply,
            ReplyInput(
                customer_name=found.customer_name or email.sender_name,
                subject=email.subject,
                body=email.body,
                intent=intent.output,
                queue=routed.output.queue,
                sla_hours=routed.output.sla_hours,
                facts=found,
            ),
        ),
        reply.name,
    )
    traces = {
        "intent": _trace(intent),
        "facts": _trace(facts) if isinstance(facts, TypedStep) else facts,
        "urgency": _trace(level),
        "sentiment": _trace(mood),
        "route": _trace(routed),
        "reply": _trace(draft) if isinstance(draft, TypedStep) else draft,
    }
    return Handled(
        email_id=email.id,
        intent=intent.output,
        facts=found,
        urgency=level.output,
        sentiment=mood.output,
        route=routed.output,
        reply=draft.output if isinstance(draft, TypedStep) else None,
        steps=traces,
    )
