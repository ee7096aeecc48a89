"""One model's turn at a task: call, decode, validate, check, and re-ask with the errors."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from atomic.errors import AtomicError, ConstraintError, OutputValidationError
from atomic.models import Message, Model, ModelRequest, ModelResponse, OutputSpec, OutputStrategy
from atomic.structured import Decoded, decode
from atomic.tasks._prompt import render_messages, render_reask
from atomic.tasks._task import CheckResult, Example, Task

__all__ = ["Attempt", "ModelOutcome", "attempt_model"]

Out = TypeVar("Out")


@dataclass
class Attempt:
    """One call to one model: what was sent, what came back, and what was wrong with it."""

    index: int
    model_id: str
    strategy: OutputStrategy
    messages: list[Message]
    response: ModelResponse | None = None
    decoded: Decoded[Any] | None = None
    checks: list[CheckResult] = field(default_factory=list)
    error: AtomicError | None = None
    latency_ms: float = 0.0

    @property
    def errors(self) -> list[str]:
        """Validation errors, then failed checks, as the model will be shown them."""
        found = list(self.decoded.errors) if self.decoded else []
        found += [f"check {c.name}: {c.reason}" for c in self.checks if not c.passed]
        return found

    @property
    def ok(self) -> bool:
        return self.error is None and self.decoded is not None and not self.errors


@dataclass
class ModelOutcome(Generic[Out]):
    """A validated output and every attempt it took."""

    output: Out
    attempts: list[Attempt]


AttemptHook = Callable[[Attempt], Awaitable[None]]


async def _noop(_: Attempt) -> None:
    return None


def _repeated(attempts: list[Attempt]) -> bool:
    """Whether the last answer is one the model already gave (and was told was wrong)."""
    last = attempts[-1].response
    return last is not None and any(
        a.response is not None and a.response.text == last.text for a in attempts[:-1]
    )


async def attempt_model(
    task: Task[Any, Out],
    task_input: BaseModel,
    model: Model,
    *,
    max_attempts: int = 3,
    examples: Sequence[Example[Any, Any]] | None = None,
    on_attempt: AttemptHook = _noop,
    first_index: int = 0,
    tenant: str | None = None,
) -> ModelOutcome[Out]:
    """Run ``task`` on ``model`` until an output validates and passes every check.

    Each attempt is handed to ``on_attempt`` (which persists it) before the next begins. A
    model error is raised at once (the caller decides whether another model runs); an output
    that is still invalid after ``max_attempts``, or that a re-ask brings back unchanged,
    raises :class:`OutputValidationError`.
    """
    strategy = model.card.best_strategy()
    messages = render_messages(task, task_input, strategy, examples)
    attempts: list[Attempt] = []
    while len(attempts) < max_attempts:
        attempt = Attempt(
            index=first_index + len(attempts),
            model_id=model.id,
            strategy=strategy,
            messages=list(messages),
        )
        request = ModelRequest(
            messages=tuple(messages),
            output=OutputSpec(
                name=task.name, json_schema=task.schema.wire_schema, strategy=strategy
            ),
            max_tokens=task.max_output_tokens,
            task_input=task_input.model_dump(mode="json"),
            tenant=tenant,
        )
        start = time.perf_counter()
        try:
            attempt.response = await model.invoke(request)
        except ConstraintError as exc:
            if strategy is OutputStrategy.PROMPT:
                raise
            # The schema has a feature the grammar engine cannot express: ask without it.
            attempt.error = exc
            attempt.latency_ms = (time.perf_counter() - start) * 1000
            attempts.append(attempt)
            await on_attempt(attempt)
            strategy = OutputStrategy.PROMPT
            messages = render_messages(task, task_input, strategy, examples)
            continue
        except AtomicError as exc:
            attempt.error = exc
            attempt.latency_ms = (time.perf_counter() - start) * 1000
            attempts.append(attempt)
            await on_attempt(attempt)
            raise
        attempt.latency_ms = attempt.response.latency_ms or (time.perf_counter() - start) * 1000
        attempt.decoded = decode(task.schema, attempt.response.text)
        if attempt.decoded.ok:
            attempt.checks = task.run_checks(task_input, attempt.decoded.value)  # type: ignore[arg-type]
        attempts.append(attempt)
        await on_attempt(attempt)
        if attempt.ok:
            return ModelOutcome(output=attempt.decoded.value, attempts=attempts)  # type: ignore[arg-type]
        if _repeated(attempts):
            break  # shown its errors, it answered the same: another re-ask only costs time
        messages = [*messages, *render_reask(attempt.response.text, attempt.errors)]
    last = attempts[-1]
    raw = last.response.text if last.response else ""
    repeated = " (the re-ask brought back the same output)" if _repeated(attempts) else ""
    raise OutputValidationError(
        f"{model.id} gave no valid output for task {task.name!r} in {len(attempts)} "
        f"attempts{repeated}: " + "; ".join(last.errors),
        raw_text=raw,
        errors=last.errors,
        attempts=len(attempts),
        hint="raise ATOMIC_MAX_ATTEMPTS, add examples to the task, or use a stronger model",
        context={"task": task.name, "model_id": model.id},
    )
