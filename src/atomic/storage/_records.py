"""The rows the store keeps, as typed records: a run, and the attempts inside it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "AdaptationStateRecord",
    "AttemptRecord",
    "ClassifierRecord",
    "FeedbackRecord",
    "MemoryRecord",
    "OutcomeRecord",
    "RunRecord",
    "RunStatus",
    "new_run_id",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_run_id() -> str:
    """A sortable, unique run id: the creation time in hex, then randomness."""
    return f"run_{int(utcnow().timestamp() * 1000):012x}{uuid.uuid4().hex[:12]}"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """Models were tried and none gave a valid output."""
    REFUSED = "refused"
    """No model was eligible: the auction's exclusions say why."""
    ABANDONED = "abandoned"
    """Its process stopped (killed, interrupted) before the run finished."""


class AttemptRecord(BaseModel):
    """One model call inside a run: the first try or a re-ask, on one model."""

    run_id: str
    index: int = Field(ge=0, description="Order within the run, from 0.")
    model_id: str
    strategy: str
    prompt: str | None = Field(description="The rendered messages as JSON, unless hashed only.")
    prompt_sha256: str
    raw_output: str | None = None
    parsed_output: Any = None
    validation_errors: list[str] = Field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    price: dict[str, Any] = Field(default_factory=dict, description="The price the cost used.")
    latency_ms: float = 0.0
    error_code: str | None = None
    error_message: str | None = None
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def ok(self) -> bool:
        return self.error_code is None and not self.validation_errors


class RunRecord(BaseModel):
    """One task call as the caller saw it, with every attempt it took."""

    id: str = Field(default_factory=new_run_id)
    tenant: str = "default"
    task_name: str
    task_version: str
    input: dict[str, Any]
    status: RunStatus = RunStatus.RUNNING
    model_id: str | None = Field(default=None, description="The model whose output was returned.")
    output: Any = None
    error_code: str | None = None
    error: dict[str, Any] | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    lease_until: datetime | None = Field(
        default=None, description="While running: abandoned unless extended before this."
    )
    attempts: list[AttemptRecord] = Field(default_factory=list)


class OutcomeRecord(BaseModel):
    """How a run really went, as the learner counted it: one per run, the latest word wins."""

    run_id: str
    tenant: str = "default"
    task_name: str
    model_id: str
    reward: float = Field(ge=0.0, le=1.0, description="1 correct, 0 wrong, or a score between.")
    source: str = Field(description="check, human, judge, ground_truth or feedback.")
    created_at: datetime = Field(default_factory=utcnow)


class FeedbackRecord(BaseModel):
    """One piece of feedback on a run, as accepted: idempotent by ``id``."""

    id: str
    tenant: str = "default"
    run_id: str
    task_name: str
    model_id: str | None = Field(description="The model judged; none for a run without output.")
    kind: str = Field(description="correct, incorrect, corrected or score.")
    output: Any = Field(default=None, description="The corrected output (kind `corrected`).")
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    reward: float = Field(ge=0.0, le=1.0, description="What the learner counted for the run.")
    source: str = Field(description="human, check, judge or ground_truth.")
    comment: str | None = None
    superseded_by: str | None = Field(
        default=None, description="The later feedback on the same run that replaced this one."
    )
    created_at: datetime = Field(default_factory=utcnow)


class MemoryRecord(BaseModel):
    """A verified example in a task's memory: an input and its confirmed or corrected output."""

    id: str
    tenant: str = "default"
    task_name: str
    input_key: str = Field(
        description="Hash of the normalised input: near-identical inputs share it."
    )
    input: dict[str, Any]
    text: str = Field(description="The input's text, as retrieval and the classifier see it.")
    output: Any
    source: str
    run_id: str | None = None
    feedback_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AdaptationStateRecord(BaseModel):
    """A task's adaptation switches and counters, per tenant."""

    tenant: str = "default"
    task_name: str
    frozen: bool = False
    state: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime = Field(default_factory=utcnow)


class ClassifierRecord(BaseModel):
    """A label task's trained classifier, per tenant: its weights as a blob that cannot run
    code on load (see :mod:`atomic.adaptation._classifier_blob`), and what it was trained on."""

    tenant: str = "default"
    task_name: str
    version: int
    trained_on: int = Field(description="How many remembered examples it was trained on.")
    blob: bytes = Field(repr=False)
    updated_at: datetime = Field(default_factory=utcnow)
