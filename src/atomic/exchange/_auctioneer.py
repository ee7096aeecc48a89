"""The auction stage of a call: eligibility, bids and clearing, and the draws behind the
logged propensity. Pure computation over the exchange's beliefs; no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from atomic.exchange._auction import (
    _PROPENSITY_DRAWS,
    AuctionInput,
    assessed_draws,
    collect_bids,
    cost_cap_exclusions,
    eligibility,
    settle,
)
from atomic.exchange._health import Health
from atomic.exchange._pacing import Pacer
from atomic.exchange._record import AuctionRecord, BidRecord
from atomic.learning import Learner
from atomic.models import Model
from atomic.models._registry import ModelRegistry
from atomic.storage import utcnow
from atomic.structured import typical_output
from atomic.tasks import Task

__all__ = ["Auctioneer"]


class Auctioneer:
    """Holds one call's auction from the learner's and the health's current beliefs."""

    def __init__(
        self, registry: ModelRegistry, learner: Learner, health: Health, rng: np.random.Generator
    ) -> None:
        self.registry = registry
        self.learner = learner
        self.health = health
        self.rng = rng
        self._output_tokens: dict[tuple[str, str, str], tuple[float, str]] = {}

    def expected_output_tokens(self, task: Task[Any, Any], model: Model) -> tuple[float, str]:
        """Output tokens a bid expects before the model has history on the task: those of a
        typical output of the task's type (the longest label and the JSON around it, say)."""
        key = (task.name, task.version, model.id)
        known = self._output_tokens.get(key)
        if known is None:
            sample = typical_output(task.schema.wire_schema)
            counted = model.count_tokens(sample)
            tokens = float(counted if counted is not None else max(len(sample) // 4, 1))
            known = (
                min(tokens, float(task.max_output_tokens)),
                f"typical {task.kind.value} output ({len(sample)} characters)",
            )
            self._output_tokens[key] = known
        return known

    def hold(
        self, call: AuctionInput, candidates: Sequence[Model], pacer: Pacer | None
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
        multiplier = pacer.multiplier if pacer else 1.0
        for model in allowed:
            assessed = model.assess(task.name, call.tenant, dict(call.data))
            if assessed is not None:
                call.assessments[model.id] = assessed
        output_tokens = {m.id: self.expected_output_tokens(task, m) for m in allowed}
        bids = collect_bids(
            call,
            allowed,
            self.learner,
            self.health,
            tokens,
            output_tokens,
            multiplier,
            call.assessments,
        )
        bids, capped = cost_cap_exclusions(bids, call.max_cost_usd, pacer)
        exclusions += capped
        cleared = settle(bids)  # bids come ranked; dropping some keeps the order
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

    def propensity_draws(self, call: AuctionInput, bids: Sequence[BidRecord]) -> Any:
        """Fresh draws of every bid from the learner's own sampling distribution, so the
        logged propensity is that of the policy which chose (off-policy estimates need it)."""
        if call.exploration <= 0 or len(bids) < 2:
            return None
        keys, cards, assessed = [], [], []
        for i, bid in enumerate(bids):
            if bid.model_id in call.assessments:
                assessed.append(i)
            else:
                keys.append((call.tenant, call.task.name, bid.model_id))
                cards.append(self.registry.get(bid.model_id).card)
        # One batch for every learner-quoted bid: one numpy call per kind of posterior.
        learned = self.learner.draws_many(
            keys, cards, call.features, call.exploration, _PROPENSITY_DRAWS, self.rng
        )
        if not assessed:
            return learned
        draws = np.empty((_PROPENSITY_DRAWS, len(bids)))
        others = [i for i in range(len(bids)) if i not in assessed]
        draws[:, others] = learned
        for i in assessed:
            draws[:, i] = assessed_draws(
                call.assessments[bids[i].model_id], call.exploration, _PROPENSITY_DRAWS, self.rng
            )
        return draws
