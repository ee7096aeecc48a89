"""The rows the store keeps, as typed records: a run, and the attempts inside it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["AttemptRecord", "OutcomeRecord", "RunRecord", "RunStatus", "new_run_id", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_run_id() -> str:
    """A sortable, unique run id: the creation time in hex, then randomness."""
    return f"run_{int(utcnow().timestamp() * 1000):012x}{uuid.uuid4().hex[:12]}"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


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
