"""The path of one call: auction, cascade of attempts, learning, and the record of it all."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel

from atomic.adaptation import Adaptation, FeedbackKind
from atomic.errors import (
    AtomicError,
    ModelError,
    NoEligibleModelError,
    OutputValidationError,
)
from atomic.exchange._auction import (
    _PROPENSITY_DRAWS,
    AuctionInput,
    TaskPolicy,
    assessed_draws,
    clear,
    collect_bids,
    cost_cap_exclusions,
    eligibility,
    propensity,
)
from atomic.exchange._feedback import record_feedback
from atomic.exchange._health import Health
from atomic.exchange._history import History
from atomic.exchange._objectives import Objective
from atomic.exchange._pacing import Budget, Pacer
from atomic.exchange._record import AttemptSummary, AuctionRecord, BidRecord, ExampleUse
from atomic.learning import Learner
from atomic.models import Model, Usage
from atomic.models._registry import ModelRegistry
from atomic.settings import AtomicSettings, PromptStorage
from atomic.storage import (
    AttemptRecord,
    FeedbackRecord,
    OutcomeRecord,
    RunRecord,
    RunStatus,
    Store,
    utcnow,
)
from atomic.tasks import Attempt, Task, attempt_model

__all__ = ["Exchange", "Result", "input_text"]

Out = TypeVar("Out")


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


def input_text(data: Mapping[str, Any]) -> str:
    """The text an input is bid on and learned from: its stored JSON, compact."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


class Exchange:
    """Runs every call as an auction among the registered models, and learns from outcomes.

    For each call: eligibility (with a reason for each exclusion), a bid per eligible model
    (P(success) from the learner, cost from the card and history, latency from history),
    clearing by the objective with Thompson-sampling exploration and budget pacing, then the
    winner runs; if it fails, the next-ranked bid runs (the cascade). The run, its attempts,
    its :class:`AuctionRecord` and the learner's new state are stored before the result is
    returned.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        store: Store,
        settings: AtomicSettings,
        *,
        learner: Learner | None = None,
        health: Health | None = None,
        adaptation: Adaptation | None = None,
        seed: int | None = None,
    ) -> None:
        self.registry = registry
        self.adaptation = adaptation
        self.store = store
        self.settings = settings
        self.learner = learner or Learner(seed=seed)
        self.health = health or Health()
        self.history = History()
        self._policies: dict[str, TaskPolicy] = {}
        self._pacers: dict[tuple[str, str], Pacer] = {}
        self._rng = np.random.default_rng(seed)

    async def restore(self) -> int:
        """Load the learner's persisted state; returns how many posteriors were restored."""
        rows = await self.store.load_learner_states()
        for (tenant, task, model), state in rows:
            self.learner.load((tenant, task, model), state)
        return len(rows)

    def configure(
        self,
        task_name: str,
        policy: TaskPolicy | None = None,
        *,
        budget: Budget | None = None,
        tenant: str | None = None,
    ) -> None:
        """Set a task's default policy and, optionally, its budget (per tenant)."""
        if policy is not None:
            self._policies[task_name] = policy
        if budget is not None:
            self._pacers[(tenant or self.settings.tenant, task_name)] = Pacer(budget)

    def policy(self, task_name: str) -> TaskPolicy:
        return self._policies.get(task_name, TaskPolicy())

    def pacer(self, task_name: str, tenant: str | None = None) -> Pacer | None:
        return self._pacers.get((tenant or self.settings.tenant, task_name))

    async def run(
        self,
        task: Task[Any, Out],
        task_input: BaseModel | Mapping[str, Any] | str,
        *,
        model: str | None = None,
        models: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        objective: Objective | None = None,
        max_cost_usd: float | None = None,
        deadline_s: float | None = None,
        tenant: str | None = None,
    ) -> Result[Out]:
        """Run ``task`` on ``task_input`` through an auction.

        ``model`` pins one model (the auction still records its bid); ``models`` restricts the
        bidders; ``exclude`` removes some; ``objective`` overrides the task's; ``max_cost_usd``
        caps the expected cost of each bid and the spend of the whole cascade; ``deadline_s``
        stops the cascade once passed.
        """
        parsed = task.parse_input(task_input)
        tenant = tenant or self.settings.tenant
        policy = self.policy(task.name)
        if objective is not None:
            policy = replace(policy, objective=objective)
        start = time.perf_counter()
        stored_input = parsed.model_dump(mode="json")
        text = input_text(stored_input)
        named = [self.registry.get(m) for m in ([model] if model else models or [])]
        # Models made for other tasks (a label task's learned classifier) are not bidders here
        # unless the caller names them.
        candidates = named or [
            m for m in self.registry if m.card.tasks is None or task.name in m.card.tasks
        ]
        call = AuctionInput(
            tenant=tenant,
            task=task,
            text=text,
            features=self.learner.featurize(text) if policy.contextual else None,
            objective=policy.objective,
            exploration=policy.exploration,
            max_cost_usd=max_cost_usd,
            exclude=tuple(exclude),
            strategies=policy.strategies,
            data=stored_input,
        )
        record, ranked = self.auction(call, candidates)
        if ranked:
            record.propensity = propensity(
                call.objective,
                record.bids,
                ranked[0].id,
                call.exploration,
                task.value_usd,
                self._rng,
                draws=self._redraws(call, record.bids),
            )
        else:
            reasons = "; ".join(f"{e.model_id}: {e.reason}" for e in record.exclusions)
            raise NoEligibleModelError(
                f"no model may serve task {task.name!r} ({reasons or 'none registered'})",
                hint="register a model the task's sensitivity, budget and caps allow, or relax "
                "the call's model, exclude or max_cost_usd arguments",
                context={
                    "task": task.name,
                    "excluded": [e.model_dump() for e in record.exclusions],
                },
            )

        demos = (
            self.adaptation.demonstrations(tenant, task, stored_input) if self.adaptation else []
        )
        examples = [*task.examples, *(d.example for d in demos)]
        record.examples = [
            ExampleUse(
                example_id=d.record.id,
                similarity=round(d.similarity, 4),
                source=d.record.source,
                output=d.record.output,
                run_id=d.record.run_id,
            )
            for d in demos
        ]
        run = RunRecord(
            tenant=tenant,
            task_name=task.name,
            task_version=task.version,
            input=stored_input,
            model_id=ranked[0].id,
        )
        await self.store.start_run(run)
        attempts: list[Attempt] = []
        output: Any = None
        served: Model | None = None
        last_error: AtomicError | None = None
        for rank, candidate in enumerate(ranked[: policy.max_cascade]):
            if rank and deadline_s is not None and time.perf_counter() - start > deadline_s:
                break
            spent = sum(a.response.cost_usd for a in attempts if a.response)
            if rank and max_cost_usd is not None and spent >= max_cost_usd:
                break
            pacer = self.pacer(task.name, tenant)
            if rank and pacer is not None and record.bids[rank].cost_usd > pacer.remaining - spent:
                break  # the next model would overrun the budget
            before = len(attempts)
            try:
                outcome = await attempt_model(
                    task,
                    parsed,
                    candidate,
                    max_attempts=self.settings.max_attempts,
                    examples=examples,
                    on_attempt=self._collector(attempts),
                    first_index=len(attempts),
                    tenant=tenant,
                )
            except (OutputValidationError, ModelError) as exc:
                last_error = exc
                self._learn(tenant, task, candidate, call, reward=0.0, mine=attempts[before:])
                record.cascade.append(_summary(candidate, exc.code, attempts[before:]))
                continue
            output = outcome.output
            served = candidate
            reward = 1.0 if policy.reward_from_checks else None
            self._learn(tenant, task, candidate, call, reward=reward, mine=attempts[before:])
            record.cascade.append(_summary(candidate, "succeeded", attempts[before:]))
            break

        responses = [a.response for a in attempts if a.response]
        run.input_tokens = sum(r.usage.input_tokens for r in responses)
        run.output_tokens = sum(r.usage.output_tokens for r in responses)
        run.cost_usd = sum(r.cost_usd for r in responses)
        run.latency_ms = (time.perf_counter() - start) * 1000
        run.finished_at = utcnow()
        pacer = self.pacer(task.name, tenant)
        if pacer is not None:
            pacer.record(run.cost_usd)
        outcome_record = None
        if served is None:
            error = last_error or NoEligibleModelError(
                f"the cascade for task {task.name!r} stopped before any model succeeded",
                hint="raise deadline_s or max_cost_usd",
                context={"task": task.name},
            )
            error.context.setdefault("run_id", run.id)
            run.status = RunStatus.FAILED
            run.error_code = error.code
            run.error = error.to_dict()
        else:
            run.status = RunStatus.SUCCEEDED
            run.model_id = served.id
            run.output = task.schema.dump(output)
            record.served_by = served.id
            if policy.reward_from_checks:
                outcome_record = OutcomeRecord(
                    run_id=run.id,
                    tenant=tenant,
                    task_name=task.name,
                    model_id=served.id,
                    reward=1.0,
                    source="check",
                )
        record.run_id = run.id
        prices = {m.id: m.card.price.model_dump(mode="json") for m in ranked}
        await self.store.finish_run(
            run,
            attempts=[
                _attempt_record(run.id, a, self.settings.prompt_storage, prices[a.model_id])
                for a in attempts
            ],
            auction=record.model_dump(mode="json"),
            outcome=outcome_record,
            learner_states=self.learner.pop_dirty(),
        )
        if served is None:
            raise error
        return Result(
            output=output,
            run_id=run.id,
            model_id=served.id,
            attempts=len(attempts),
            usage=Usage(input_tokens=run.input_tokens, output_tokens=run.output_tokens),
            cost_usd=run.cost_usd,
            latency_ms=run.latency_ms,
        )

    def auction(
        self, call: AuctionInput, candidates: Sequence[Model]
    ) -> tuple[AuctionRecord, list[Model]]:
        """Eligibility, bids and clearing: the ranked models to try, and the record."""
        task = call.task
        overhead = 20 * (1 + 2 * len(task.examples)) + len(task.instructions) // 4
        estimated = (len(call.text) // 4 + overhead, "estimate: 4 characters a token")
        tokens = {}
        for model in candidates:
            counted = model.count_tokens(call.text)
            tokens[model.card.id] = (
                estimated if counted is None else (counted + overhead, "tokenizer")
            )
        allowed, exclusions = eligibility(call, candidates, self.health, tokens)
        pacer = self.pacer(task.name, call.tenant)
        multiplier = pacer.multiplier if pacer else 1.0
        for model in allowed:
            assessed = model.assess(task.name, call.tenant, dict(call.data))
            if assessed is not None:
                call.assessments[model.id] = assessed
        bids = collect_bids(
            call, allowed, self.learner, self.history, tokens, multiplier, call.assessments
        )
        bids, capped = cost_cap_exclusions(bids, call.max_cost_usd, pacer)
        exclusions += capped
        cleared = clear(call.objective, bids)
        ranked = cleared.ranked
        winner = ranked[0].model_id if ranked else None
        record = AuctionRecord.model_construct(
            run_id="",
            tenant=call.tenant,
            task_name=task.name,
            objective={"kind": call.objective.kind, **call.objective.params()},
            value_usd=task.value_usd,
            exploration=call.exploration,
            contextual=call.features is not None,
            bids=ranked,
            exclusions=exclusions,
            winner=winner,
            runner_up=ranked[1].model_id if len(ranked) > 1 else None,
            margin=cleared.margin,
            propensity=0.0,  # filled in by `run`, off the auction's critical path
            pacing_multiplier=multiplier,
            budget_remaining_usd=pacer.remaining if pacer else None,
            cascade=[],
            served_by=None,
            # Every field given: a default_factory left to model_construct costs pydantic an
            # inspect.signature() of the factory per call (about 0.6 ms for `list`).
            examples=[],
            created_at=utcnow(),
        )
        by_id = {m.id: m for m in allowed}
        return record, [by_id[b.model_id] for b in ranked]

    def _redraws(self, call: AuctionInput, bids: Sequence[BidRecord]) -> Any:
        """Fresh draws of every bid from the learner's own sampling distribution, so the
        logged propensity is that of the policy which chose (off-policy estimates need it)."""
        if call.exploration <= 0 or len(bids) < 2:
            return None
        columns = []
        for bid in bids:
            assessed = call.assessments.get(bid.model_id)
            if assessed is not None:
                columns.append(
                    assessed_draws(assessed, call.exploration, _PROPENSITY_DRAWS, self._rng)
                )
                continue
            columns.append(
                self.learner.draws(
                    (call.tenant, call.task.name, bid.model_id),
                    self.registry.get(bid.model_id).card,
                    call.features,
                    call.exploration,
                    _PROPENSITY_DRAWS,
                    self._rng,
                )
            )
        return np.column_stack(columns)

    def _collector(self, attempts: list[Attempt]) -> Any:
        # Attempts are written with the run's end, in one transaction: a round trip per
        # attempt would be most of a fast call's cost. The run row itself is written first.
        async def collect(attempt: Attempt) -> None:
            attempts.append(attempt)

        return collect

    def _learn(
        self,
        tenant: str,
        task: Task[Any, Any],
        model: Model,
        call: AuctionInput,
        *,
        reward: float | None,
        mine: Sequence[Attempt],
    ) -> None:
        key = (tenant, task.name, model.id)
        if reward is not None:
            self.learner.update(key, model.card, self._features_for_learning(call), reward)
        errored = any(isinstance(a.error, ModelError) and a.response is None for a in mine)
        self.health.record(model.id, ok=not errored)
        for attempt in mine:
            if attempt.response is not None:
                self.history.record(key, attempt.latency_ms, attempt.response.usage.output_tokens)

    def _features_for_learning(self, call: AuctionInput) -> Any:
        # The contextual posterior learns from every call, so switching a task to contextual
        # bidding later starts from what was seen, not from the prior.
        return call.features if call.features is not None else self.learner.featurize(call.text)

    def observe(
        self,
        task: Task[Any, Any],
        task_input: BaseModel | Mapping[str, Any],
        model_id: str,
        reward: float,
        *,
        tenant: str | None = None,
    ) -> None:
        """Teach the learner an outcome seen elsewhere (say, a labelled history of every
        model's answers), without a call. Persisted with the next run or outcome."""
        parsed = task.parse_input(task_input)
        model = self.registry.get(model_id)
        x = self.learner.featurize(input_text(parsed.model_dump(mode="json")))
        self.learner.update(
            (tenant or self.settings.tenant, task.name, model.id), model.card, x, reward
        )

    async def save_learner(self) -> None:
        """Persist every posterior changed since the last save."""
        await self.store.save_learner_states(self.learner.pop_dirty())

    async def count_outcome(self, run: RunRecord, reward: float, source: str) -> OutcomeRecord:
        """Count ``reward`` as the run's outcome in the learner, replacing the one counted
        before (a check's verdict or earlier feedback), so each run counts once. The caller
        persists the returned outcome with the learner's changed states."""
        assert run.model_id is not None
        previous = await self.store.get_outcome(run.id, tenant=run.tenant)
        card = self.registry.get(run.model_id).card if run.model_id in self.registry else None
        key = (run.tenant, run.task_name, run.model_id)
        if previous is not None:
            self.learner.update(key, card, None, previous.reward, weight=-1.0)
        self.learner.update(key, card, self.learner.featurize(input_text(run.input)), reward)
        return OutcomeRecord(
            run_id=run.id,
            tenant=run.tenant,
            task_name=run.task_name,
            model_id=run.model_id,
            reward=reward,
            source=source,
        )

    async def record_feedback(
        self, run_id: str, kind: FeedbackKind | str, **options: Any
    ) -> FeedbackRecord:
        """Feedback on a run (see :meth:`atomic.Atomic.record_feedback`)."""
        return await record_feedback(self, run_id, kind, **options)

    async def record_outcome(
        self,
        run_id: str,
        reward: float | bool,
        *,
        source: str = "human",
        tenant: str | None = None,
    ) -> FeedbackRecord:
        """Report how a run really went (``reward`` 1/True = correct, 0/False = wrong, or a
        score in between); may arrive long after the call. Feedback of kind ``score``: it
        replaces the run's earlier outcome in the learner, so each run counts once."""
        value = float(reward)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"reward must be in [0, 1], got {reward!r}")
        return await record_feedback(
            self, run_id, FeedbackKind.SCORE, score=value, source=source, tenant=tenant
        )


def _summary(model: Model, outcome: str, mine: Sequence[Attempt]) -> AttemptSummary:
    return AttemptSummary(
        model_id=model.id,
        outcome=outcome,
        attempts=len(mine),
        cost_usd=sum(a.response.cost_usd for a in mine if a.response),
        latency_ms=sum(a.latency_ms for a in mine),
    )
