"""The REST API's request and response bodies, each a pydantic model in the OpenAPI spec."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from atomic.adaptation import AdaptationStatus
from atomic.exchange import MaxQuality, MinCost, Objective, Utility
from atomic.models import ModelCard
from atomic.storage import RunRecord

__all__ = [
    "AdaptationAction",
    "AdaptationView",
    "FeedbackRequest",
    "Health",
    "ObjectiveSpec",
    "RunList",
    "RunRequest",
    "RunResponse",
    "TaskList",
    "TaskView",
    "UsageView",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UtilitySpec(_Body):
    kind: Literal["utility"] = "utility"
    value_usd: float | None = Field(default=None, ge=0)
    latency_weight: float = Field(default=0.0, ge=0)


class MinCostSpec(_Body):
    kind: Literal["min_cost"]
    floor: float = Field(default=0.8, ge=0, le=1)


class MaxQualitySpec(_Body):
    kind: Literal["max_quality"]
    max_cost_usd: float | None = Field(default=None, ge=0)
    max_latency_ms: float | None = Field(default=None, ge=0)


ObjectiveSpec = Annotated[UtilitySpec | MinCostSpec | MaxQualitySpec, Field(discriminator="kind")]


def objective_of(spec: UtilitySpec | MinCostSpec | MaxQualitySpec | None) -> Objective | None:
    if spec is None:
        return None
    if isinstance(spec, UtilitySpec):
        return Utility(value_usd=spec.value_usd, latency_weight=spec.latency_weight)
    if isinstance(spec, MinCostSpec):
        return MinCost(floor=spec.floor)
    return MaxQuality(
        max_cost_usd=math.inf if spec.max_cost_usd is None else spec.max_cost_usd,
        max_latency_ms=math.inf if spec.max_latency_ms is None else spec.max_latency_ms,
    )


class CallOptions(_Body):
    """The options of one call through the exchange (those of ``Atomic.run``)."""

    model: str | None = Field(
        default=None, description="Pin one model (its bid is still recorded)."
    )
    models: list[str] | None = Field(default=None, description="Only these models bid.")
    exclude: list[str] = Field(default_factory=list, description="These models do not bid.")
    objective: ObjectiveSpec | None = Field(
        default=None, description="Overrides the task's objective."
    )
    max_cost_usd: float | None = Field(
        default=None, ge=0, description="Caps each bid's expected cost and the cascade's spend."
    )
    deadline_s: float | None = Field(
        default=None, gt=0, le=3600, description="Stops the cascade once passed."
    )


class RunRequest(CallOptions):
    """One task call: its input, and the call's options."""

    input: dict[str, Any] | str = Field(
        description="The task's input: a JSON object with its fields, or text for a one-field "
        "input."
    )


class UsageView(BaseModel):
    input_tokens: int
    output_tokens: int


class RunResponse(BaseModel):
    """A task's typed output and what it took."""

    run_id: str
    task: str
    output: Any = Field(description="The output, valid against the task's output schema.")
    model_id: str = Field(description="The winner whose output this is.")
    attempts: int = Field(description="Model calls the run took (re-asks and cascade included).")
    usage: UsageView
    cost_usd: float
    latency_ms: float


class RunList(BaseModel):
    """A page of runs, newest first; ``next_cursor`` fetches the next page."""

    runs: list[RunRecord]
    next_cursor: str | None = None


class FeedbackRequest(_Body):
    """How a run went (see ``Atomic.record_feedback``)."""

    kind: Literal["correct", "incorrect", "corrected", "score"]
    output: Any = Field(default=None, description="The corrected output (kind `corrected`).")
    score: float | None = Field(default=None, ge=0, le=1, description="For kind `score`.")
    source: Literal["human", "ground_truth", "judge", "check"] = "human"
    comment: str | None = Field(default=None, max_length=10_000)
    id: str | None = Field(
        default=None, max_length=200, description="Feedback with the same id counts once."
    )


class TaskView(BaseModel):
    name: str
    version: str
    kind: str = Field(description="label, extraction or generation.")
    description: str
    instructions: str
    sensitivity: str
    value_usd: float
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


class TaskList(BaseModel):
    tasks: list[TaskView]


class ModelEstimateView(BaseModel):
    model_id: str
    p_correct: float
    source: str


class AdaptationView(BaseModel):
    """What one task has learned for the caller's tenant."""

    task: str
    tenant: str
    frozen: bool
    memory_size: int
    memory_capacity: int
    memory_by_source: dict[str, int]
    classifier: dict[str, Any] | None
    win_shares: dict[str, int]
    estimates: list[ModelEstimateView]
    dropped: int | None = Field(default=None, description="Examples a reset forgot.")

    @classmethod
    def of(cls, status: AdaptationStatus, dropped: int | None = None) -> AdaptationView:
        classifier = status.classifier
        return cls(
            task=status.task_name,
            tenant=status.tenant,
            frozen=status.frozen,
            memory_size=status.memory_size,
            memory_capacity=status.memory_capacity,
            memory_by_source=status.memory_by_source,
            classifier=None if classifier is None else dict(vars(classifier)),
            win_shares=status.win_shares,
            estimates=[
                ModelEstimateView(model_id=e.model_id, p_correct=e.p_correct, source=e.source)
                for e in status.estimates
            ],
            dropped=dropped,
        )


class AdaptationAction(_Body):
    action: Literal["freeze", "unfreeze", "reset"]


class ModelView(BaseModel):
    """A model in OpenAI's list format, with Atomic's card when it is a registered model."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str
    card: ModelCard | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelView]


class Check(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Check] = Field(default_factory=dict)
