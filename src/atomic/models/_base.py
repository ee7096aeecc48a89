"""The model adapter protocol: one required async method, typed request and response."""

from __future__ import annotations

import abc
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from atomic.models._card import ModelCard, OutputStrategy, Usage

__all__ = ["Message", "Model", "ModelRequest", "ModelResponse", "OutputSpec"]


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

    def count_tokens(self, text: str) -> int | None:
        """Tokens ``text`` takes in this model's tokenizer, or ``None`` if unknown."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release what the adapter holds (HTTP pools, loaded weights)."""
