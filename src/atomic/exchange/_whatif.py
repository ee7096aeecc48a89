"""What-if: the correctness and cost the same traffic would have had under another objective.

Each logged auction keeps every bid (P(correct), cost, latency) and the propensity of the
logged choice. A target objective, cleared greedily on those bids, agrees or not with each
logged winner; the runs it agrees with, weighted by 1 / propensity, estimate its mean
correctness (over runs with feedback) and cost (over all runs): SNIPS, with its standard
error and effective sample size. No router offers this: it needs the propensities logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from atomic.exchange._auction import clear
from atomic.exchange._objectives import Objective
from atomic.exchange._record import AuctionRecord
from atomic.learning import IPSEstimate, ips
from atomic.storage._run_ledger import LoggedAuction

__all__ = ["WhatIf", "what_if"]


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


def _greedy(objective: Objective, record: AuctionRecord) -> str | None:
    # The target scores each bid's posterior mean (no exploration): the policy it would run.
    bids = [replace(b, p_draw=b.p_success, rank=0) for b in record.bids]
    for bid in bids:
        p = bid.p_success * bid.availability
        latency_s = bid.latency_p50_ms / 1000
        bid.score = float(objective.score(p, bid.paced_cost_usd, latency_s, record.value_usd))
        bid.feasible = bool(objective.feasible(p, bid.cost_usd, latency_s))
    ranked = clear(objective, bids).ranked
    return ranked[0].model_id if ranked else None


def what_if(objective: Objective, log: Sequence[LoggedAuction]) -> WhatIf:
    """Estimate ``objective`` on ``log`` (see the module's docstring)."""
    usable = [
        (entry, AuctionRecord.model_validate(entry.record))
        for entry in log
        if (entry.record.get("propensity") or 0) > 0 and entry.record.get("winner")
    ]
    picks = [_greedy(objective, record) for _, record in usable]
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
    return WhatIf(
        objective={"kind": objective.kind, **objective.params()},
        runs=len(usable),
        judged=len(judged),
        logged_correctness=sum(rewards) / len(rewards) if rewards else None,
        logged_cost_usd=sum(e.cost_usd for e, _ in usable) / len(usable) if usable else 0.0,
        correctness=correctness,
        cost=cost,
        choices=choices,
    )
