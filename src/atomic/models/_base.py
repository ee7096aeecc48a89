"""The model adapter protocol: one required async method, typed request and response."""

from __future__ import annotations

import abc
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from atomic.models._card import ModelCard, OutputStrategy, Usage

__all__ = ["Assessment", "Message", "Model", "ModelRequest", "ModelResponse", "OutputSpec"]


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class OutputSpec(BaseModel):
    """What the output must look like, and how the model is asked to comply."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="A short name for the schema (the task's name).")
    json_schema: dict[str, Any] = Field(description="JSON Schema of the output value.")
    strategy: OutputStrategy = OutputStrategy.PROMPT


class ModelRequest(BaseModel):
    """Everything a model needs for one call."""

    model_config = ConfigDict(frozen=True)

    messages: tuple[Message, ...]
    output: OutputSpec | None = None
    task_input: dict[str, Any] | None = Field(
        default=None, description="The task's input as JSON data, for models that read it directly."
    )
    tenant: str | None = Field(
        default=None, description="The tenant the call is for (models that learn per tenant)."
    )
    max_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int | None = 0


class ModelResponse(BaseModel):
    """What a model answered, and what the answer consumed."""

    model_config = ConfigDict(frozen=True)

    model_id: str
    text: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = Field(default=0.0, ge=0)
    latency_ms: float = Field(default=0.0, ge=0)
    finish_reason: str | None = None
    strategy: OutputStrategy = OutputStrategy.PROMPT


class Assessment(BaseModel):
    """A model's own judgement of its chance on one input, for models that can tell."""

    model_config = ConfigDict(frozen=True)

    p_success: float = Field(ge=0.0, le=1.0)
    evidence: int = Field(ge=0, description="Held-out judgements behind the estimate.")
    source: str


class Model(abc.ABC):
    """A model adapter. Subclasses implement :meth:`invoke` and carry a :class:`ModelCard`.

    An adapter that cannot honour ``request.output.strategy`` raises
    :class:`atomic.errors.UnsupportedError`; it never silently ignores the schema.
    """

    card: ModelCard

    @property
    def id(self) -> str:
        return self.card.id

    @abc.abstractmethod
    async def invoke(self, request: ModelRequest) -> ModelResponse:
        """Run one call."""

    def declines(self, task_name: str, tenant: str) -> str | None:
        """Why this model cannot serve the task now (say, not trained yet), or ``None``."""
        return None

    def assess(self, task_name: str, tenant: str, task_input: dict[str, Any]) -> Assessment | None:
        """This model's calibrated P(success) on ``task_input``, if it can judge its own
        answers; ``None`` leaves the estimate to the exchange's learner."""
        return None

    def count_tokens(self, text: str) -> int | None:
        """Tokens ``text`` takes in this model's tokenizer, or ``None`` if unknown."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release what the adapter holds (HTTP pools, loaded weights)."""
