"""What the call path says happened, one frozen record per fact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atomic.exchange._record import AuctionRecord
    from atomic.storage import AttemptRecord, FeedbackRecord, LearnerMerge, OutcomeRecord, RunRecord
    from atomic.tasks import Attempt

__all__ = [
    "AttemptFinished",
    "AuctionCleared",
    "BreakerChanged",
    "BudgetPaced",
    "Event",
    "FeedbackApplied",
    "RunRefused",
    "RunSettled",
    "StepFinished",
    "StepStarted",
]


@dataclass(frozen=True, slots=True)
class AuctionCleared:
    """An auction chose a winner; the run starts (its lease running) with this record."""

    run: RunRecord
    record: AuctionRecord
    auction_ms: float = 0.0
    """How long eligibility, bids and clearing took."""


@dataclass(frozen=True, slots=True)
class RunRefused:
    """No model was eligible: the run ends here, its exclusions in the record."""

    run: RunRecord
    record: AuctionRecord
    auction_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    """One call to one model came back (or failed); written with the run's settlement."""

    run_id: str
    tenant: str
    task_name: str
    attempt: Attempt
    sensitivity: str = "internal"
    """The task's data sensitivity: subscribers never record a confidential task's content."""


@dataclass(frozen=True, slots=True)
class RunSettled:
    """A run ended (succeeded, failed or abandoned), with everything it changed: its
    attempts, the final record, the outcome counted and what the learner learned."""

    run: RunRecord
    record: AuctionRecord
    attempts: list[AttemptRecord]
    outcome: OutcomeRecord | None
    learning: LearnerMerge | None


@dataclass(frozen=True, slots=True)
class FeedbackApplied:
    """Feedback was accepted and persisted."""

    feedback: FeedbackRecord


@dataclass(frozen=True, slots=True)
class BudgetPaced:
    """A budgeted task's spend moved; the pacing multiplier with it."""

    tenant: str
    task_name: str
    spent_usd: float
    remaining_usd: float
    multiplier: float


@dataclass(frozen=True, slots=True)
class BreakerChanged:
    """A model's circuit breaker opened or closed."""

    model_id: str
    state: str
    availability: float


@dataclass(frozen=True, slots=True)
class StepStarted:
    """A workflow's step is about to call its task (again, if an earlier try failed)."""

    workflow: str
    workflow_id: str
    step: int
    task_name: str
    tenant: str


@dataclass(frozen=True, slots=True)
class StepFinished:
    """A workflow's step came back: its run, or the error that failed this try."""

    workflow: str
    workflow_id: str
    step: int
    task_name: str
    tenant: str
    latency_ms: float
    run_id: str | None = None
    model_id: str | None = None
    cost_usd: float = 0.0
    error_code: str | None = None


Event = (
    AuctionCleared
    | RunRefused
    | AttemptFinished
    | RunSettled
    | FeedbackApplied
    | BudgetPaced
    | BreakerChanged
    | StepStarted
    | StepFinished
)
