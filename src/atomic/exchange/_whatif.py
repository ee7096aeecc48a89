"""What-if: the correctness and cost the same traffic would have had under another objective.

Each logged auction keeps every bid (P(correct), cost, latency) and the propensity of the
logged choice. A target objective, cleared greedily on those bids, agrees or not with each
logged winner; the runs it agrees with, weighted by 1 / propensity, estimate its mean
correctness (over runs with feedback) and cost (over all runs): SNIPS, with its standard
error and effective sample size. No router offers this: it needs the propensities logged.

Under a budget, the target is replayed in time order with a pacer of that budget: each
auction is cleared with the multiplier and the exclusions (over what is left, over the pace)
the pacer would have had, and spend grows by the logged cost where the target agrees with the
logged winner and by its own pick's expected cost where it does not. The simulated spend is an
approximation (a disagreeing pick's real cost is unknown), and so is the estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from atomic.errors import ConfigError
from atomic.exchange._auction import clear, cost_cap_exclusions
from atomic.exchange._objectives import MaxQuality, MinCost, Objective, Utility
from atomic.exchange._pacing import Budget, Pacer
from atomic.exchange._record import AuctionRecord, BidRecord
from atomic.learning import IPSEstimate, ips
from atomic.storage._run_ledger import LoggedAuction

__all__ = ["WhatIf", "objective_named", "what_if"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WhatIf:
    """The logged policy's measured outcome next to the target's estimated one."""

    objective: dict[str, object]
    runs: int
    judged: int
    """Runs with correctness feedback."""
    logged_correctness: float | None
    logged_cost_usd: float
    correctness: IPSEstimate | None
    cost: IPSEstimate | None
    choices: dict[str, int]
    """How often the target would pick each model on the logged traffic."""


def _greedy(
    objective: Objective, record: AuctionRecord, pacer: Pacer | None = None
) -> BidRecord | None:
    # The target scores each bid's posterior mean (no exploration): the policy it would run.
    bids = [replace(b, p_draw=b.p_success, rank=0) for b in record.bids]
    if pacer is not None:
        bids, _ = cost_cap_exclusions(bids, None, pacer)
        multiplier = pacer.multiplier
        bids = [replace(b, paced_cost_usd=b.cost_usd * multiplier) for b in bids]
    for bid in bids:
        p = bid.p_success * bid.availability
        latency_s = bid.latency_p50_ms / 1000
        bid.score = float(objective.score(p, bid.paced_cost_usd, latency_s, record.value_usd))
        bid.feasible = bool(objective.feasible(p, bid.cost_usd, latency_s))
    ranked = clear(objective, bids).ranked
    return ranked[0] if ranked else None


def _picks(
    objective: Objective,
    usable: Sequence[tuple[LoggedAuction, AuctionRecord]],
    budget: Budget | None,
) -> list[str | None]:
    if budget is None:
        return [_bid_id(_greedy(objective, record)) for _, record in usable]
    now = [0.0]
    pacer = Pacer(budget, clock=lambda: now[0])
    picks: dict[int, str | None] = {}
    by_time = sorted(
        range(len(usable)), key=lambda i: (usable[i][0].created_at or _EPOCH).timestamp()
    )
    for i in by_time:
        entry, record = usable[i]
        now[0] = (entry.created_at or _EPOCH).timestamp()
        pick = _greedy(objective, record, pacer)
        picks[i] = _bid_id(pick)
        if pick is not None:
            pacer.record(entry.cost_usd if pick.model_id == record.winner else pick.cost_usd)
    return [picks[i] for i in range(len(usable))]


def _bid_id(bid: BidRecord | None) -> str | None:
    return bid.model_id if bid is not None else None


def what_if(
    objective: Objective, log: Sequence[LoggedAuction], *, budget: Budget | None = None
) -> WhatIf:
    """Estimate ``objective`` (under ``budget``, if given) on ``log`` (see the module's
    docstring)."""
    usable = [
        (entry, AuctionRecord.model_validate(entry.record))
        for entry in log
        if (entry.record.get("propensity") or 0) > 0 and entry.record.get("winner")
    ]
    picks = _picks(objective, usable, budget)
    matches = [pick == record.winner for pick, (_, record) in zip(picks, usable, strict=True)]
    propensities = [min(record.propensity, 1.0) for _, record in usable]
    choices: dict[str, int] = {}
    for pick in picks:
        if pick is not None:
            choices[pick] = choices.get(pick, 0) + 1
    judged = [i for i, (entry, _) in enumerate(usable) if entry.reward is not None]
    cost = ips(matches, propensities, [entry.cost_usd for entry, _ in usable]) if usable else None
    correctness = (
        ips(
            [matches[i] for i in judged],
            [propensities[i] for i in judged],
            [float(usable[i][0].reward or 0.0) for i in judged],
        )
        if judged
        else None
    )
    rewards = [float(usable[i][0].reward or 0.0) for i in judged]
    described: dict[str, object] = {"kind": objective.kind, **objective.params()}
    if budget is not None:
        described["budget_usd"] = budget.amount_usd
        described["budget_window_s"] = budget.window_s
    return WhatIf(
        objective=described,
        runs=len(usable),
        judged=len(judged),
        logged_correctness=sum(rewards) / len(rewards) if rewards else None,
        logged_cost_usd=sum(e.cost_usd for e, _ in usable) / len(usable) if usable else 0.0,
        correctness=correctness,
        cost=cost,
        choices=choices,
    )


def objective_named(
    kind: str, value: float | None = None, floor: float = 0.8, max_cost: float | None = None
) -> Objective:
    """The objective ``kind`` names (``utility``, ``min_cost``, ``max_quality``) with its
    parameter: what ``atomic whatif`` and the dashboard's what-if panel take."""
    if kind == "utility":
        return Utility(value_usd=value)
    if kind == "min_cost":
        return MinCost(floor=floor)
    if kind == "max_quality":
        return MaxQuality(max_cost_usd=max_cost if max_cost is not None else float("inf"))
    raise ConfigError(
        f"unknown objective {kind!r}",
        hint="use utility (with --value), min_cost (with --floor) or max_quality (--max-cost)",
        context={"objective": kind},
    )
