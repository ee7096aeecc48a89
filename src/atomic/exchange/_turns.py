"""What the cascade of one run did, and the records and errors made of it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from atomic.errors import AtomicError, NoEligibleModelError
from atomic.exchange._auction import AuctionInput
from atomic.exchange._record import AttemptSummary
from atomic.learning import Observation
from atomic.models import Model, ModelCard
from atomic.settings import PromptStorage
from atomic.storage import AttemptRecord, OutcomeRecord, RunRecord
from atomic.tasks import Attempt, Task

__all__ = ["Turns", "as_atomic", "attempt_record", "cascade_error", "summary"]


@dataclass
class Turns:
    """What the cascade of one run did: attempts, per-model outcomes, what was learned."""

    task: Task[Any, Any]
    attempts: list[Attempt] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    cards: dict[tuple[str, str, str], ModelCard] = field(default_factory=dict)
    errors: list[tuple[str, AtomicError]] = field(default_factory=list)
    output: Any = None
    served: Model | None = None
    outcome: OutcomeRecord | None = None

    @property
    def spent(self) -> float:
        return sum(a.response.cost_usd for a in self.attempts if a.response)

    def observe(
        self, call: AuctionInput, model: Model, before: int, *, valid: bool | None, x: Any
    ) -> None:
        """What one model's turn (its attempts from ``before`` on) taught: its validity
        (``None`` when it could not answer, which is the health's business), correctness
        when the task's checks decide it, and its calls' latency and output length."""
        key = (call.tenant, call.task.name, model.id)
        self.cards[key] = model.card
        if valid is not None:
            self.observations.append(Observation(key, "validity", float(valid), x=x))
            if valid and call.task.authoritative_checks:
                self.observations.append(Observation(key, "correctness", 1.0, x=x))
                self.outcome = OutcomeRecord(
                    run_id="",
                    tenant=call.tenant,
                    task_name=call.task.name,
                    model_id=model.id,
                    reward=1.0,
                    source="check",
                )
        for attempt in self.attempts[before:]:
            if attempt.response is not None:
                self.observations.append(
                    Observation(
                        key,
                        "history",
                        latency_ms=attempt.latency_ms,
                        output_tokens=attempt.response.usage.output_tokens,
                    )
                )


def attempt_record(
    run_id: str, attempt: Attempt, storage: PromptStorage, price: dict[str, Any]
) -> AttemptRecord:
    prompt = json.dumps([m.model_dump() for m in attempt.messages], ensure_ascii=False)
    response = attempt.response
    return AttemptRecord(
        run_id=run_id,
        index=attempt.index,
        model_id=attempt.model_id,
        strategy=attempt.strategy.value,
        prompt=prompt if storage is PromptStorage.FULL else None,
        prompt_sha256=hashlib.sha256(prompt.encode()).hexdigest(),
        raw_output=response.text if response else None,
        parsed_output=attempt.decoded.parsed if attempt.decoded else None,
        validation_errors=attempt.errors,
        input_tokens=response.usage.input_tokens if response else 0,
        output_tokens=response.usage.output_tokens if response else 0,
        cost_usd=response.cost_usd if response else 0.0,
        price=price,
        latency_ms=attempt.latency_ms,
        error_code=attempt.error.code if attempt.error else None,
        error_message=attempt.error.message if attempt.error else None,
    )


def cascade_error(task: Task[Any, Any], run: RunRecord, turns: Turns) -> AtomicError:
    """The error a failed cascade raises: the last model's, naming every model tried."""
    tried = [
        {"model": model_id, "code": exc.code, "errors": [f"{exc.code}: {exc.message}"]}
        for model_id, exc in turns.errors
    ]
    if turns.errors:
        error = turns.errors[-1][1]
        if len(turns.errors) > 1:
            others = "; ".join(f"{t['model']}: {t['code']}" for t in tried[:-1])
            error.message = f"{error.message} (also tried {others})"
    else:
        error = NoEligibleModelError(
            f"the cascade for task {task.name!r} stopped before any model succeeded",
            hint="raise deadline_s or max_cost_usd",
            context={"task": task.name},
        )
    error.context["run_id"] = run.id
    error.context["tried"] = tried
    return error


def as_atomic(exc: Exception) -> AtomicError:
    if isinstance(exc, AtomicError):
        return exc
    return AtomicError(
        f"the call failed unexpectedly: {type(exc).__name__}: {exc}",
        hint="this is a bug or an unexpected condition; the run is stored as failed",
        context={"type": type(exc).__name__},
    )


def summary(model: Model, outcome: str, mine: Sequence[Attempt]) -> AttemptSummary:
    return AttemptSummary(
        model_id=model.id,
        outcome=outcome,
        attempts=len(mine),
        cost_usd=sum(a.response.cost_usd for a in mine if a.response),
        latency_ms=sum(a.latency_ms for a in mine),
    )
