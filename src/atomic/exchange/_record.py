"""The record of one auction: every bid, every exclusion, the winner, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from atomic.storage import utcnow

__all__ = ["AttemptSummary", "AuctionRecord", "BidRecord", "ExclusionRecord"]


@dataclass(slots=True)
class BidRecord:
    """One model's bid, with each number and where it came from.

    A slotted dataclass rather than a Pydantic model: an auction builds one per bidder on the
    call's critical path, and validation would cost more than the rest of the auction.
    """

    model_id: str
    p_success: float
    """Posterior mean of P(correct): validity × correctness, or a model's own confidence."""
    p_std: float
    p_draw: float
    """The exploration draw the score used."""
    p_source: str
    """What the estimate rests on, in words."""
    input_tokens: int
    input_tokens_source: str
    output_tokens: float
    output_tokens_source: str
    cost_usd: float
    """Expected cost of the call."""
    cost_source: str
    paced_cost_usd: float
    """Expected cost × the pacing multiplier."""
    latency_p50_ms: float
    latency_p95_ms: float
    latency_source: str
    score: float
    feasible: bool = True
    rank: int = 0
    availability: float = 1.0
    """Share of recent calls the model answered at all; scales P(correct) in the score."""


class ExclusionRecord(BaseModel):
    model_id: str
    reason: str
    code: str = Field(description="Stable reason code, e.g. residency, context_window.")


class AttemptSummary(BaseModel):
    """How one model's turn in the cascade ended."""

    model_id: str
    outcome: str = Field(description="succeeded, invalid_output or an error code.")
    attempts: int
    cost_usd: float
    latency_ms: float


class ExampleUse(BaseModel):
    """A remembered example placed in the prompt as a demonstration."""

    example_id: str
    similarity: float
    source: str
    output: Any = None
    run_id: str | None = Field(default=None, description="The run the example was learned from.")


class AuctionRecord(BaseModel):
    """Everything needed to explain, audit or re-evaluate one choice of model."""

    run_id: str
    tenant: str
    task_name: str
    objective: dict[str, Any]
    value_usd: float
    exploration: float
    contextual: bool
    bids: list[BidRecord]
    exclusions: list[ExclusionRecord]
    winner: str | None
    runner_up: str | None
    margin: float | None = Field(description="Winner's score minus the runner-up's.")
    propensity: float = Field(description="P(the winner is chosen) under the sampling policy.")
    pacing_multiplier: float
    budget_remaining_usd: float | None = None
    cascade: list[AttemptSummary] = Field(default_factory=list)
    served_by: str | None = Field(default=None, description="The model whose output returned.")
    examples: list[ExampleUse] = Field(
        default_factory=list,
        description="Remembered examples put in the prompt, least similar first.",
    )
    created_at: datetime = Field(default_factory=utcnow)

    def bid(self, model_id: str) -> BidRecord | None:
        return next((b for b in self.bids if b.model_id == model_id), None)
