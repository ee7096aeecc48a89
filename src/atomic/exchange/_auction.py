"""One auction, without I/O: eligibility with reasons, bids, clearing, propensity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from atomic.exchange._health import Health
from atomic.exchange._objectives import Objective, Utility
from atomic.exchange._pacing import Pacer
from atomic.exchange._record import BidRecord, ExclusionRecord
from atomic.learning import Estimate, Learner
from atomic.learning._features import FloatArray
from atomic.models import Assessment, Model, OutputStrategy
from atomic.tasks import Task

__all__ = [
    "AuctionInput",
    "Cleared",
    "TaskPolicy",
    "assessed_draws",
    "assessed_quote",
    "clear",
    "collect_bids",
    "cost_cap_exclusions",
    "eligibility",
    "propensity",
    "settle",
]

_PROPENSITY_DRAWS = 512
_ASSESSED_EVIDENCE_CAP = 200
"""Held-out judgements beyond this no longer narrow a self-assessed bid's draw."""


@dataclass(frozen=True)
class TaskPolicy:
    """How the exchange treats one task's calls, unless a call says otherwise."""

    objective: Objective = field(default_factory=Utility)
    exploration: float = 1.0
    """1 is Thompson sampling; 0 always picks the best posterior mean; between shrinks draws."""
    contextual: bool = False
    """Bid from input features (hashed words, length) rather than per task only."""
    strategies: frozenset[OutputStrategy] | None = None
    """If set, only models supporting one of these output strategies may bid."""
    max_cascade: int = 3
    """How many models may be tried, winner first, before the call fails."""


@dataclass(frozen=True)
class AuctionInput:
    """The facts of one call that eligibility and bids depend on."""

    tenant: str
    task: Task[Any, Any]
    text: str
    """The rendered input, for token estimates."""
    features: FloatArray | None
    objective: Objective
    exploration: float
    max_cost_usd: float | None = None
    exclude: Sequence[str] = ()
    strategies: frozenset[OutputStrategy] | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    """The input as JSON data, for models that assess their own chances on it."""
    assessments: dict[str, Assessment] = field(default_factory=dict)
    """Filled by the auction: each self-assessing model's judgement of this input."""


def eligibility(
    call: AuctionInput,
    models: Sequence[Model],
    health: Health,
    input_tokens: dict[str, tuple[int, str]],
) -> tuple[list[Model], list[ExclusionRecord]]:
    """The models that may bid on this call, and a reason for each one that may not."""
    allowed: list[Model] = []
    excluded: list[ExclusionRecord] = []
    task = call.task

    def exclude(model: Model, code: str, reason: str) -> None:
        excluded.append(ExclusionRecord(model_id=model.id, code=code, reason=reason))

    for model in models:
        card = model.card
        model_id = card.id
        if model_id in call.exclude:
            exclude(model, "caller", "excluded by the caller")
            continue
        if card.tasks is not None and task.name not in card.tasks:
            served = ", ".join(sorted(card.tasks))
            exclude(model, "task", f"serves only {served}")
            continue
        declined = model.declines(task.name, call.tenant)
        if declined is not None:
            exclude(model, "declined", declined)
            continue
        if not task.sensitivity.allows(card.residency):
            exclude(
                model,
                "residency",
                f"{task.sensitivity.value} data may not go to a {card.residency.value} model",
            )
            continue
        if call.strategies is not None and not (card.strategies & call.strategies):
            wanted = " or ".join(sorted(s.value for s in call.strategies))
            have = ", ".join(sorted(s.value for s in card.strategies))
            exclude(model, "strategy", f"supports {have}; this call requires {wanted}")
            continue
        tokens, _ = input_tokens[model_id]
        needed = tokens + task.max_output_tokens
        window = health.context_window(model_id, card.context_window)
        if needed > window:
            learned = " (as its server said)" if window < card.context_window else ""
            exclude(
                model,
                "context_window",
                f"needs about {needed:,} tokens; its window is {window:,}{learned}",
            )
            continue
        if not health.admits(model_id):
            exclude(model, "unhealthy", "circuit breaker open after repeated failures")
            continue
        allowed.append(model)
    # Cost caps need the bids' output estimates: `cost_cap_exclusions` applies them after.
    return allowed, excluded


def collect_bids(
    call: AuctionInput,
    models: Sequence[Model],
    learner: Learner,
    health: Health,
    input_tokens: dict[str, tuple[int, str]],
    output_tokens: Mapping[str, tuple[float, str]],
    multiplier: float,
    assessments: Mapping[str, Assessment] | None = None,
) -> list[BidRecord]:
    """Every eligible model's bid: P(correct), cost and latency, each with its source; in
    the order the objective ranks them (see :func:`clear`).

    A model's own :class:`Assessment` (a calibrated confidence on this input) replaces the
    learner's estimate for that model; its draw spreads with the evidence behind it. A model
    that answers only part of the time is worth that share of its P(correct), and takes
    correspondingly longer to get an answer from. The learner's bidders are drawn in one
    batch, all bids are scored as arrays, and each record is built once, already ranked.
    """
    task, objective = call.task, call.objective
    estimates, drawn = _quote_all(call, models, learner, assessments)
    facts = [
        _bid_facts(call, model, learner, health, input_tokens, output_tokens) for model in models
    ]
    available = np.array([f.availability for f in facts])
    costs = np.array([f.cost for f in facts])
    latency_s = np.array([f.latency_p50_ms for f in facts]) / 1000
    p = drawn * available
    scores = objective.score(p, costs * multiplier, latency_s, task.value_usd).tolist()
    feasible = objective.feasible(p, costs, latency_s)
    ok = [feasible] * len(models) if isinstance(feasible, bool) else feasible.tolist()
    draws = drawn.tolist()
    order = _ranking(objective, ok, scores, costs.tolist(), draws, [m.id for m in models])
    bids = []
    for rank, i in enumerate(order):
        f, estimate = facts[i], estimates[i]
        bids.append(
            BidRecord(
                model_id=f.model_id,
                p_success=estimate.mean,
                p_std=estimate.std,
                p_draw=draws[i],
                p_source=estimate.source,
                availability=f.availability,
                input_tokens=f.input_tokens,
                input_tokens_source=f.input_tokens_source,
                output_tokens=f.output_tokens,
                output_tokens_source=f.output_tokens_source,
                cost_usd=f.cost,
                cost_source=f.cost_source,
                paced_cost_usd=f.cost * multiplier,
                latency_p50_ms=f.latency_p50_ms,
                latency_p95_ms=f.latency_p95_ms,
                latency_source=f.latency_source,
                score=scores[i],
                feasible=bool(ok[i]),
                rank=rank,
            )
        )
    return bids


class _BidFacts(NamedTuple):
    """What a bid says besides P(correct): tokens, cost and latency, with their sources."""

    model_id: str
    availability: float
    input_tokens: int
    input_tokens_source: str
    output_tokens: float
    output_tokens_source: str
    cost: float
    cost_source: str
    latency_p50_ms: float
    latency_p95_ms: float
    latency_source: str


def _bid_facts(
    call: AuctionInput,
    model: Model,
    learner: Learner,
    health: Health,
    input_tokens: dict[str, tuple[int, str]],
    output_tokens: Mapping[str, tuple[float, str]],
) -> _BidFacts:
    card = model.card
    model_id = card.id
    past = learner.history((call.tenant, call.task.name, model_id))
    tokens_in, tokens_in_source = input_tokens[model_id]
    if past is not None:
        tokens_out = past.mean_output_tokens
        tokens_out_source = f"history: mean of {past.calls} calls"
        p50, p95 = past.p50_ms, past.p95_ms
        latency_source = f"history: {past.calls} calls"
    else:
        tokens_out, tokens_out_source = output_tokens[model_id]
        p50, p95 = card.latency_prior_ms, card.latency_prior_ms * 2
        latency_source = "card prior"
    availability = health.availability(model_id)
    if availability < 1.0:
        # Failed calls are retried elsewhere: the expected wait grows as answers get rarer.
        p50, p95 = p50 / availability, p95 / availability
        latency_source += f"; answers {availability:.0%} of calls"
    price = card.price
    return _BidFacts(
        model_id,
        availability,
        tokens_in,
        tokens_in_source,
        tokens_out,
        tokens_out_source,
        price.cost_of(tokens_in, round(tokens_out)),
        price.source or "model card price",
        p50,
        p95,
        latency_source,
    )


def _quote_all(
    call: AuctionInput,
    models: Sequence[Model],
    learner: Learner,
    assessments: Mapping[str, Assessment] | None,
) -> tuple[list[Estimate], FloatArray]:
    """Every model's estimate and draw: the learner's in one batch, self-assessments apart."""
    task, exploration = call.task, call.exploration
    if assessments:
        learned = [i for i, m in enumerate(models) if m.id not in assessments]
    else:
        learned = list(range(len(models)))
    keys = [(call.tenant, task.name, models[i].id) for i in learned]
    cards = [models[i].card for i in learned]
    estimates, drawn = learner.quotes(keys, cards, call.features, exploration)
    if len(learned) == len(models):
        return estimates, drawn
    all_estimates: list[Estimate] = []
    all_drawn = np.empty(len(models))
    batch = iter(zip(estimates, drawn.tolist(), strict=True))
    for i, model in enumerate(models):
        assessed = assessments.get(model.id) if assessments else None
        if assessed is not None:
            estimate, draw = assessed_quote(assessed, exploration, learner.np_rng)
        else:
            estimate, draw = next(batch)
        all_estimates.append(estimate)
        all_drawn[i] = draw
    return all_estimates, all_drawn


def _assessed_beta(assessed: Assessment) -> tuple[float, float]:
    evidence = min(assessed.evidence, _ASSESSED_EVIDENCE_CAP)
    return 1.0 + assessed.p_success * evidence, 1.0 + (1.0 - assessed.p_success) * evidence


def assessed_quote(
    assessed: Assessment, exploration: float, rng: np.random.Generator
) -> tuple[Estimate, float]:
    """The estimate and a Thompson draw for a self-assessed bid: Beta around the model's
    confidence, as wide as its held-out evidence is thin."""
    a, b = _assessed_beta(assessed)
    mean = assessed.p_success
    std = float(np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))
    estimate = Estimate(mean, std, assessed.source)
    if exploration <= 0:
        return estimate, mean
    return estimate, float(mean + exploration * (rng.beta(a, b) - mean))


def assessed_draws(
    assessed: Assessment, exploration: float, n: int, rng: np.random.Generator
) -> FloatArray:
    """``n`` draws distributed as :func:`assessed_quote`'s (for propensities)."""
    a, b = _assessed_beta(assessed)
    mean = assessed.p_success
    if exploration <= 0:
        return np.full(n, mean)
    return np.asarray(mean + exploration * (rng.beta(a, b, size=n) - mean), dtype=float)


@dataclass(frozen=True)
class Cleared:
    ranked: list[BidRecord]
    margin: float | None


def clear(objective: Objective, bids: Sequence[BidRecord]) -> Cleared:
    """Rank bids by the objective: feasible ones by score, then the rest by its fallback."""
    order = _ranking(
        objective,
        [b.feasible for b in bids],
        [b.score for b in bids],
        [b.cost_usd for b in bids],
        [b.p_draw for b in bids],
        [b.model_id for b in bids],
    )
    return settle([bids[i] for i in order])


def settle(ranked: list[BidRecord]) -> Cleared:
    """Number ranked bids from 0, and the winner's margin over the runner-up."""
    for rank, bid in enumerate(ranked):
        bid.rank = rank
    margin = None
    if len(ranked) >= 2 and ranked[0].feasible == ranked[1].feasible:
        margin = ranked[0].score - ranked[1].score
    return Cleared(ranked, margin)


def _ranking(
    objective: Objective,
    feasible: list[bool],
    scores: list[float],
    costs: list[float],
    draws: list[float],
    ids: list[str],
) -> list[int]:
    """The order of bids, best first. Scores equal to 12 decimal places are ties; cheaper
    wins them, then the id, so the same draws always give the same ranking."""
    # A sort of a few tuples beats numpy's lexsort until bidders number in the hundreds.
    keys = [
        (0, -round(scores[i], 12), costs[i], ids[i])
        if feasible[i]
        else (1, -objective.fallback(draws[i], costs[i]), costs[i], ids[i])
        for i in range(len(ids))
    ]
    return sorted(range(len(ids)), key=keys.__getitem__)


def propensity(
    objective: Objective,
    bids: Sequence[BidRecord],
    winner: str,
    exploration: float,
    value_usd: float,
    rng: np.random.Generator,
    draws: FloatArray | None = None,
) -> float:
    """P(``winner`` is chosen) under the exploration policy, by re-drawing every bid.

    ``draws`` (one column per bid, in ``bids`` order) should come from the learner's own
    sampling distribution (:meth:`Learner.draws`); without them each bid's draw is taken as
    normal around its posterior mean with its posterior spread (scaled by ``exploration``),
    a rougher approximation. The auction is re-cleared for every row of draws.
    """
    if exploration <= 0 or len(bids) == 1:
        return 1.0
    if draws is None:
        means = np.array([b.p_success for b in bids])  # availability is applied below
        spreads = np.array([b.p_std for b in bids]) * exploration
        noise = rng.standard_normal((_PROPENSITY_DRAWS, len(bids)))
        draws = np.clip(means + spreads * noise, 0, 1)
    available = np.array([b.availability for b in bids])
    cost = np.array([b.cost_usd for b in bids])
    paced = np.array([b.paced_cost_usd for b in bids])
    latency_s = np.array([b.latency_p50_ms for b in bids]) / 1000
    # Every row of draws re-clears the auction: all bids scored at once, as arrays. Scores
    # equal to 12 decimals tie, as in `clear` (counted in units of 1e-12).
    p = draws * available
    key = np.rint(objective.score(p, paced, latency_s, value_usd) * 1e12)
    feasible = objective.feasible(p, cost, latency_s)
    if feasible is not True:
        # Feasible bids outrank the rest; as `clear` has it, the fallback ranks the draw
        # itself, not its availability share.
        feasible = np.broadcast_to(feasible, p.shape)
        fallback = objective.fallback(draws, cost)
        ranked_by_score = feasible.any(axis=1, keepdims=True)
        key = np.where(ranked_by_score, np.where(feasible, key, -np.inf), fallback)
    best = key == key.max(axis=1, keepdims=True)
    # Ties go to the cheaper bid, then the smaller id, as in `clear`.
    column = next(i for i, b in enumerate(bids) if b.model_id == winner)
    ahead = [
        j
        for j, b in enumerate(bids)
        if (b.cost_usd, b.model_id) < (bids[column].cost_usd, bids[column].model_id)
    ]
    chosen = best[:, column]
    if ahead:
        chosen = chosen & ~best[:, ahead].any(axis=1)
    share = float(np.count_nonzero(chosen)) / len(draws)
    return max(share, 1.0 / len(draws))


def cost_cap_exclusions(
    bids: Sequence[BidRecord], max_cost_usd: float | None, pacer: Pacer | None
) -> tuple[list[BidRecord], list[ExclusionRecord]]:
    """Drop bids over the call's cost cap, over what is left of the budget, or (all but the
    cheapest) over what pacing allows now."""
    kept: list[BidRecord] = []
    excluded: list[ExclusionRecord] = []
    if max_cost_usd is None and pacer is None:
        return list(bids), excluded
    remaining = pacer.remaining if pacer else None
    headroom = pacer.headroom() if pacer else None
    cheapest = min((b.cost_usd for b in bids), default=0.0)

    def drop(bid: BidRecord, code: str, reason: str) -> None:
        excluded.append(ExclusionRecord(model_id=bid.model_id, code=code, reason=reason))

    for bid in bids:
        cost = f"expected ${bid.cost_usd:.6f}"
        if max_cost_usd is not None and bid.cost_usd > max_cost_usd:
            drop(bid, "cost_cap", f"{cost} is over the call's cap ${max_cost_usd:.6f}")
        elif remaining is not None and bid.cost_usd > remaining:
            drop(bid, "budget", f"{cost} is over the ${remaining:.6f} left in the budget")
        elif headroom is not None and bid.cost_usd > headroom and bid.cost_usd > cheapest:
            drop(
                bid,
                "pacing",
                f"{cost} would run ahead of the budget's pace (${headroom:.6f} of headroom now)",
            )
        else:
            kept.append(bid)
    return kept, excluded
