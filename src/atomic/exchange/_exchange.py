"""The path of one call: auction, cascade of attempts, learning, and the record of it all."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel

from atomic.adaptation import Adaptation, FeedbackKind
from atomic.errors import (
    AtomicError,
    ContextWindowExceededError,
    ModelError,
    NoEligibleModelError,
    OutputValidationError,
)
from atomic.events import (
    AttemptFinished,
    AuctionCleared,
    BreakerChanged,
    BudgetPaced,
    EventBus,
    RunRefused,
    RunSettled,
)
from atomic.exchange._auction import (
    AuctionInput,
    TaskPolicy,
    propensity,
)
from atomic.exchange._auctioneer import Auctioneer
from atomic.exchange._feedback import record_feedback
from atomic.exchange._health import Health
from atomic.exchange._objectives import Objective
from atomic.exchange._pacing import Budget, Pacer
from atomic.exchange._record import AuctionRecord, BidRecord, ExampleUse
from atomic.exchange._recorder import StoreRecorder
from atomic.exchange._turns import Turns, as_atomic, attempt_record, cascade_error, summary
from atomic.learning import Learner, Observation
from atomic.models import Model, Usage
from atomic.models._registry import ModelRegistry
from atomic.settings import AtomicSettings
from atomic.storage import (
    FeedbackRecord,
    LearnerMerge,
    OutcomeRecord,
    RunRecord,
    RunStatus,
    Store,
    utcnow,
)
from atomic.tasks import Attempt, Task, attempt_model

__all__ = ["Exchange", "Result", "input_text"]

Out = TypeVar("Out")
log = logging.getLogger("atomic.exchange")

_REFRESH_OVERLAP = timedelta(seconds=5)
"""Rows committed a little after the time they carry are still read by the next refresh."""


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


def input_text(data: Mapping[str, Any]) -> str:
    """The text an input is bid on and learned from: its stored JSON, compact."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


class Exchange:
    """Runs every call as an auction among the registered models, and learns from outcomes.

    For each call: eligibility (with a reason for each exclusion), a bid per eligible model
    (P(correct) from the learner, cost from the card and history, latency from history),
    clearing by the objective with Thompson-sampling exploration and budget pacing, then the
    winner runs; if it fails, the next-ranked bid runs (the cascade). The run and its auction
    record are stored when it starts; its attempts, its outcome and what the learner learned
    when it settles, before the result is returned. A call no model may serve is stored as a
    ``refused`` run; a call whose process stops midway ends ``abandoned``.
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
        self._learner = learner or Learner(seed=seed)
        self.health = health or Health()
        self.events = EventBus()
        """Every stage's events; the store is its durable subscriber."""
        self.events.subscribe(StoreRecorder(store), durable=True)
        self._policies: dict[str, TaskPolicy] = {}
        self._pacers: dict[tuple[str, str], Pacer] = {}
        self._rng = np.random.default_rng(seed)
        self.auctioneer = Auctioneer(registry, self._learner, self.health, self._rng)
        self._synced_at = -float("inf")
        self._synced_wall: datetime | None = None

    @property
    def learner(self) -> Learner:
        """What the exchange has learned of every model on every task."""
        return self._learner

    @learner.setter
    def learner(self, learner: Learner) -> None:
        # Replaced whole (a benchmark's hyper-parameters, say): the auctions bid from it too.
        self._learner = self.auctioneer.learner = learner

    async def restore(self) -> int:
        """Load the learner's persisted state; returns how many keys were restored."""
        self._synced_at, self._synced_wall = time.monotonic(), utcnow()
        rows = await self.store.load_learner_states()
        for key, state in rows:
            self.learner.load(key, state)
        return len(rows)

    async def _refresh(self, tenant: str, task_name: str) -> None:
        """Read what other processes learned and spent, at most every ``state_refresh_s``."""
        now = time.monotonic()
        if now - self._synced_at >= self.settings.state_refresh_s:
            since = self._synced_wall - _REFRESH_OVERLAP if self._synced_wall else None
            self._synced_at, self._synced_wall = now, utcnow()
            for key, state in await self.store.load_learner_states(since=since):
                self.learner.load(key, state)
        pacer = self.pacer(task_name, tenant)
        if pacer is not None and now - pacer.synced_at >= self.settings.state_refresh_s:
            since_window = pacer.window_started_at()
            spent = await self.store.spend(tenant=tenant, task_name=task_name, since=since_window)
            pacer.sync(spent, now)

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
        await self._refresh(tenant, task.name)
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
        cleared_at = time.perf_counter()
        record, ranked = self.auction(call, candidates)
        auction_ms = (time.perf_counter() - cleared_at) * 1000
        run = RunRecord(
            tenant=tenant,
            task_name=task.name,
            task_version=task.version,
            input=stored_input,
            model_id=ranked[0].id if ranked else None,
        )
        if not ranked:
            await self._refuse(run, record, start, auction_ms)
        record.propensity = propensity(
            call.objective,
            record.bids,
            ranked[0].id,
            call.exploration,
            task.value_usd,
            self._rng,
            draws=self.auctioneer.propensity_draws(call, record.bids),
        )
        examples = self._demonstrations(tenant, task, stored_input, record)
        record.run_id = run.id
        run.lease_until = utcnow() + timedelta(seconds=self.settings.run_lease_s)
        await self.events.publish(AuctionCleared(run, record, auction_ms))
        turns = Turns(task)
        try:
            async with self._leased(run.id):
                await self._cascade(
                    task, parsed, call, policy, record, ranked, turns, examples,
                    max_cost_usd=max_cost_usd, deadline_s=deadline_s, start=start,
                )  # fmt: skip
        except Exception as exc:
            # Not a model's failure (those end a turn): the run still ends, with this error.
            await self._settle(run, record, turns, start, RunStatus.FAILED, as_atomic(exc))
            raise
        except BaseException:
            # Cancelled or interrupted (Ctrl-C): the run ends now, with what it had.
            await asyncio.shield(self._settle(run, record, turns, start, RunStatus.ABANDONED))
            raise
        if turns.served is None:
            error = cascade_error(task, run, turns)
            await self._settle(run, record, turns, start, RunStatus.FAILED, error)
            raise error
        await self._settle(run, record, turns, start, RunStatus.SUCCEEDED)
        return Result(
            output=turns.output,
            run_id=run.id,
            model_id=turns.served.id,
            attempts=len(turns.attempts),
            usage=Usage(input_tokens=run.input_tokens, output_tokens=run.output_tokens),
            cost_usd=run.cost_usd,
            latency_ms=run.latency_ms,
        )

    def _demonstrations(
        self,
        tenant: str,
        task: Task[Any, Any],
        stored_input: dict[str, Any],
        record: AuctionRecord,
    ) -> list[Any]:
        demos = (
            self.adaptation.demonstrations(tenant, task, stored_input) if self.adaptation else []
        )
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
        return [*task.examples, *(d.example for d in demos)]

    async def _refuse(
        self, run: RunRecord, record: AuctionRecord, start: float, auction_ms: float
    ) -> None:
        """Store a call no model may serve as a ``refused`` run with its exclusions; raise."""
        task_name = run.task_name
        reasons = "; ".join(f"{e.model_id}: {e.reason}" for e in record.exclusions)
        error = NoEligibleModelError(
            f"no model may serve task {task_name!r} ({reasons or 'none registered'})",
            hint="register a model the task's sensitivity, budget and caps allow, or relax "
            "the call's model, exclude or max_cost_usd arguments; "
            f"`atomic explain {run.id}` shows every exclusion",
            context={
                "task": task_name,
                "run_id": run.id,
                "excluded": [e.model_dump() for e in record.exclusions],
            },
        )
        record.run_id = run.id
        run.status = RunStatus.REFUSED
        run.error_code = error.code
        run.error = error.to_dict()
        run.latency_ms = (time.perf_counter() - start) * 1000
        run.finished_at = utcnow()
        await self.events.publish(RunRefused(run, record, auction_ms))
        raise error

    @contextlib.asynccontextmanager
    async def _leased(self, run_id: str) -> AsyncIterator[None]:
        """Renew the run's lease while it is in flight, so it is not taken for abandoned."""
        renewer = asyncio.create_task(self._renew(run_id))
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _renew(self, run_id: str) -> None:
        lease = self.settings.run_lease_s
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await self.store.extend_leases([run_id], utcnow() + timedelta(seconds=lease))
            except AtomicError as exc:  # the next renewal may get through
                log.warning("could not renew the lease of run %s: %s", run_id, exc)

    async def _cascade(
        self,
        task: Task[Any, Any],
        parsed: BaseModel,
        call: AuctionInput,
        policy: TaskPolicy,
        record: AuctionRecord,
        ranked: Sequence[Model],
        turns: Turns,
        examples: Sequence[Any],
        *,
        max_cost_usd: float | None,
        deadline_s: float | None,
        start: float,
    ) -> None:
        """The winner's turn, then the next bids' while they fail and the caps allow."""
        pacer = self.pacer(task.name, call.tenant)
        x = self._features_for_learning(call)
        for rank, candidate in enumerate(ranked[: policy.max_cascade]):
            if rank and deadline_s is not None and time.perf_counter() - start > deadline_s:
                break
            spent = turns.spent
            if rank and max_cost_usd is not None and spent >= max_cost_usd:
                break
            if rank and pacer is not None and record.bids[rank].cost_usd > pacer.remaining - spent:
                break  # the next model would overrun the budget
            before = len(turns.attempts)
            try:
                outcome = await attempt_model(
                    task,
                    parsed,
                    candidate,
                    max_attempts=self.settings.max_attempts,
                    examples=examples,
                    on_attempt=self._collector(call, record.run_id, turns.attempts),
                    first_index=before,
                    tenant=call.tenant,
                )
            except OutputValidationError as exc:
                await self._record_health(candidate)
                turns.observe(
                    call, candidate, before, valid=False, x=self._features_for_learning(call)
                )
                turns.errors.append((candidate.id, exc))
                record.cascade.append(summary(candidate, exc.code, turns.attempts[before:]))
                continue
            except ModelError as exc:
                await self._record_health(candidate, exc, record.bids[rank], task)
                turns.observe(
                    call, candidate, before, valid=None, x=self._features_for_learning(call)
                )
                turns.errors.append((candidate.id, exc))
                record.cascade.append(summary(candidate, exc.code, turns.attempts[before:]))
                continue
            await self._record_health(candidate)
            turns.observe(call, candidate, before, valid=True, x=x)
            turns.output, turns.served = outcome.output, candidate
            record.cascade.append(summary(candidate, "succeeded", turns.attempts[before:]))
            return

    async def _record_health(
        self,
        model: Model,
        error: ModelError | None = None,
        bid: BidRecord | None = None,
        task: Task[Any, Any] | None = None,
    ) -> None:
        """Whether the model answered at all. One that could not (``error``): its health
        learns, never its quality posteriors; a window its server refused is remembered."""
        before = self.health.state(model.id)
        self.health.record(model.id, ok=error is None)
        if isinstance(error, ContextWindowExceededError) and bid is not None and task:
            self.health.refused_window(model.id, bid.input_tokens + task.max_output_tokens)
        after = self.health.state(model.id)
        if after is not before and self.events.observed:
            availability = self.health.availability(model.id)
            await self.events.publish(BreakerChanged(model.id, after.value, availability))

    async def _settle(
        self,
        run: RunRecord,
        record: AuctionRecord,
        turns: Turns,
        start: float,
        status: RunStatus,
        error: AtomicError | None = None,
    ) -> None:
        """Write how the run ended, its attempts, the final record and what was learned, in
        one transaction, before the caller hears of it."""
        responses = [a.response for a in turns.attempts if a.response]
        run.input_tokens = sum(r.usage.input_tokens for r in responses)
        run.output_tokens = sum(r.usage.output_tokens for r in responses)
        run.cost_usd = sum(r.cost_usd for r in responses)
        run.latency_ms = (time.perf_counter() - start) * 1000
        run.finished_at = utcnow()
        run.status = status
        pacer = self.pacer(run.task_name, run.tenant)
        if pacer is not None:
            pacer.record(run.cost_usd)
            if self.events.observed:
                await self.events.publish(
                    BudgetPaced(
                        run.tenant, run.task_name, pacer.spent, pacer.remaining, pacer.multiplier
                    )
                )
        outcome = None
        if status is RunStatus.SUCCEEDED and turns.served is not None:
            run.model_id = turns.served.id
            run.output = turns.task.schema.dump(turns.output)
            record.served_by = turns.served.id
            if turns.outcome is not None:
                outcome = turns.outcome.model_copy(update={"run_id": run.id})
        elif error is not None:
            run.error_code = error.code
            run.error = error.to_dict()
        elif status is RunStatus.ABANDONED:
            run.error_code = "run.abandoned"
            run.error = {
                "code": "run.abandoned",
                "message": "the call was interrupted before it finished",
                "hint": "run the task again",
                "retryable": True,
                "context": {},
            }
        prices = {m.id: m.card.price.model_dump(mode="json") for m in self._tried(turns)}
        observations = turns.observations
        learning = None
        if observations:
            cards = dict(turns.cards)
            learning = LearnerMerge(
                keys=[o.key for o in observations],
                merge=lambda stored: self.learner.merge(stored, observations, cards),
            )
        attempts = [
            attempt_record(run.id, a, self.settings.prompt_storage, prices[a.model_id])
            for a in turns.attempts
        ]
        await self.events.publish(RunSettled(run, record, attempts, outcome, learning))

    def _tried(self, turns: Turns) -> list[Model]:
        ids = {a.model_id for a in turns.attempts}
        return [self.registry.get(model_id) for model_id in ids]

    def auction(
        self, call: AuctionInput, candidates: Sequence[Model]
    ) -> tuple[AuctionRecord, list[Model]]:
        """Eligibility, bids and clearing: the ranked models to try, and the record."""
        return self.auctioneer.hold(call, candidates, self.pacer(call.task.name, call.tenant))

    def _collector(self, call: AuctionInput, run_id: str, attempts: list[Attempt]) -> Any:
        # Attempts are written with the run's end, in one transaction: a round trip per
        # attempt would be most of a fast call's cost. The run row itself is written first.
        async def collect(attempt: Attempt) -> None:
            attempts.append(attempt)
            if self.events.observed:
                await self.events.publish(
                    AttemptFinished(
                        run_id, call.tenant, call.task.name, attempt, call.task.sensitivity.value
                    )
                )

        return collect

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
        """Teach the learner a judged outcome seen elsewhere (say, a labelled history of every
        model's answers), without a call: a valid output, correct with ``reward``. Persisted
        by :meth:`save_learner`."""
        parsed = task.parse_input(task_input)
        model = self.registry.get(model_id)
        x = self.learner.featurize(input_text(parsed.model_dump(mode="json")))
        key = (tenant or self.settings.tenant, task.name, model.id)
        self.learner.observe(Observation(key, "validity", 1.0, x=x), model.card)
        self.learner.observe(Observation(key, "correctness", reward, x=x), model.card)

    async def save_learner(self) -> None:
        """Persist every state :meth:`observe` changed since the last save."""
        await self.store.save_learner_states(self.learner.pop_dirty())

    async def count_outcome(
        self, run: RunRecord, reward: float, source: str
    ) -> tuple[OutcomeRecord, LearnerMerge]:
        """Count ``reward`` as the run's correctness in the learner, replacing the one counted
        before (a check's verdict or earlier feedback), so each run counts once. The caller
        persists the returned outcome and applies the learning in its transaction."""
        assert run.model_id is not None
        previous = await self.store.get_outcome(run.id, tenant=run.tenant)
        card = self.registry.get(run.model_id).card if run.model_id in self.registry else None
        key = (run.tenant, run.task_name, run.model_id)
        observations = []
        if previous is not None:
            observations.append(Observation(key, "correctness", previous.reward, weight=-1.0))
        x = self.learner.featurize(input_text(run.input))
        observations.append(Observation(key, "correctness", reward, x=x))
        outcome = OutcomeRecord(
            run_id=run.id,
            tenant=run.tenant,
            task_name=run.task_name,
            model_id=run.model_id,
            reward=reward,
            source=source,
        )
        learning = LearnerMerge(
            keys=[key],
            merge=lambda stored: self.learner.merge(stored, observations, {key: card}),
        )
        return outcome, learning

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
