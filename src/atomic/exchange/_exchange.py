"""The path of one call: eligibility, choice of model, attempts, and the record of it all."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from atomic.errors import AtomicError, NoEligibleModelError
from atomic.models import Model, Usage
from atomic.models._registry import ModelRegistry
from atomic.settings import AtomicSettings, PromptStorage
from atomic.storage import AttemptRecord, RunRecord, RunStatus, Store, utcnow
from atomic.tasks import Attempt, Task, attempt_model

__all__ = ["Exchange", "Exclusion", "Result"]

Out = TypeVar("Out")


@dataclass(frozen=True)
class Exclusion:
    """A registered model that may not serve a call, and why."""

    model_id: str
    reason: str


@dataclass(frozen=True)
class Result(Generic[Out]):
    """A validated output and what it took to get it."""

    output: Out
    run_id: str
    model_id: str
    attempts: int
    usage: Usage
    cost_usd: float
    latency_ms: float


def _attempt_record(
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


class Exchange:
    """Chooses a model for each call, runs it, and records the run before returning.

    Until bidding lands, the choice is the cheapest eligible model by its card's price
    (ties: lower latency prior, then registration order).
    """

    def __init__(self, registry: ModelRegistry, store: Store, settings: AtomicSettings) -> None:
        self.registry = registry
        self.store = store
        self.settings = settings

    def eligible(
        self, task: Task[Any, Any], model_ids: Sequence[str] | None = None
    ) -> tuple[list[Model], list[Exclusion]]:
        """The models that may serve ``task`` (in the order they would be tried), and the rest."""
        candidates = (
            [self.registry.get(m) for m in model_ids] if model_ids else list(self.registry)
        )
        allowed: list[Model] = []
        excluded: list[Exclusion] = []
        for model in candidates:
            if not task.sensitivity.allows(model.card.residency):
                excluded.append(
                    Exclusion(
                        model.id,
                        f"{task.sensitivity.value} data may not go to a "
                        f"{model.card.residency.value} model",
                    )
                )
                continue
            allowed.append(model)
        allowed.sort(
            key=lambda m: (
                m.card.price.cost(Usage(input_tokens=500, output_tokens=task.max_output_tokens)),
                m.card.latency_prior_ms,
            )
        )
        return allowed, excluded

    async def run(
        self,
        task: Task[Any, Out],
        task_input: BaseModel | Mapping[str, Any] | str,
        *,
        model: str | None = None,
        tenant: str | None = None,
    ) -> Result[Out]:
        """Run ``task`` on ``task_input``; the run and its attempts are stored before returning."""
        parsed_input = task.parse_input(task_input)  # type: ignore[arg-type]
        models, excluded = self.eligible(task, [model] if model else None)
        if not models:
            reasons = "; ".join(f"{e.model_id}: {e.reason}" for e in excluded) or "none registered"
            raise NoEligibleModelError(
                f"no model may serve task {task.name!r} ({reasons})",
                hint="register a model whose residency the task's sensitivity allows",
                context={"task": task.name, "excluded": [e.__dict__ for e in excluded]},
            )
        chosen = models[0]
        run = RunRecord(
            tenant=tenant or self.settings.tenant,
            task_name=task.name,
            task_version=task.version,
            input=parsed_input.model_dump(mode="json"),
            model_id=chosen.id,
        )
        await self.store.start_run(run)
        start = time.perf_counter()
        attempts: list[Attempt] = []

        async def persist(attempt: Attempt) -> None:
            attempts.append(attempt)
            await self.store.record_attempt(
                _attempt_record(
                    run.id,
                    attempt,
                    self.settings.prompt_storage,
                    chosen.card.price.model_dump(mode="json"),
                )
            )

        usage = Usage()
        try:
            outcome = await attempt_model(
                task,
                parsed_input,
                chosen,
                max_attempts=self.settings.max_attempts,
                on_attempt=persist,
            )
        except AtomicError as exc:
            exc.context.setdefault("run_id", run.id)
            await self._finish(run, attempts, start, error=exc)
            raise
        for attempt in attempts:
            if attempt.response:
                usage = usage + attempt.response.usage
        run.output = task.schema.dump(outcome.output)
        await self._finish(run, attempts, start)
        return Result(
            output=outcome.output,
            run_id=run.id,
            model_id=chosen.id,
            attempts=len(attempts),
            usage=usage,
            cost_usd=run.cost_usd,
            latency_ms=run.latency_ms,
        )

    async def _finish(
        self,
        run: RunRecord,
        attempts: Sequence[Attempt],
        start: float,
        error: AtomicError | None = None,
    ) -> None:
        responses = [a.response for a in attempts if a.response]
        run.input_tokens = sum(r.usage.input_tokens for r in responses)
        run.output_tokens = sum(r.usage.output_tokens for r in responses)
        run.cost_usd = sum(r.cost_usd for r in responses)
        run.latency_ms = (time.perf_counter() - start) * 1000
        run.finished_at = utcnow()
        run.status = RunStatus.FAILED if error else RunStatus.SUCCEEDED
        if error is not None:
            run.error_code = error.code
            run.error = error.to_dict()
        await self.store.finish_run(run)
