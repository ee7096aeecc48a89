"""What a model is, as the exchange sees it: id, prices, window, residency, strategies."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from atomic.errors import ModelNotFoundError

__all__ = ["ModelCard", "OutputStrategy", "Price", "Residency", "Usage", "parse_model_id"]

_ID = re.compile(r"^(?P<provider>[a-z0-9][a-z0-9_.-]*)[:/](?P<name>\S+)$")


def parse_model_id(model_id: str) -> tuple[str, str]:
    """Split ``provider:name`` (or ``provider/name``) into its parts.

    >>> parse_model_id("openai/gpt-4o-mini")
    ('openai', 'gpt-4o-mini')
    """
    match = _ID.match(model_id)
    if match is None:
        raise ModelNotFoundError(
            f"model id {model_id!r} is not of the form provider:name",
            hint="write ids like llamacpp:smollm2-135m-instruct or openai/gpt-4o-mini",
            context={"model_id": model_id},
        )
    return match["provider"], match["name"]


class Residency(StrEnum):
    """Where a model runs, and so where the data sent to it goes."""

    LOCAL = "local"
    ON_PREM = "on_prem"
    CLOUD = "cloud"


class OutputStrategy(StrEnum):
    """How a model can be held to an output schema, strongest first."""

    GRAMMAR = "grammar"
    """Constrained decoding: tokens outside the schema's grammar are never sampled."""
    JSON_SCHEMA = "json_schema"
    """The server enforces ``response_format: {type: json_schema}`` itself."""
    PROMPT = "prompt"
    """The schema is described in the prompt; the output is parsed and validated after."""


class Usage(BaseModel):
    """Tokens one model call consumed."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class Price(BaseModel):
    """What a call costs, in USD: per million input/output tokens plus a fixed part per call."""

    model_config = ConfigDict(frozen=True)

    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)
    per_call: float = Field(default=0.0, ge=0)
    source: str | None = Field(default=None, description="Where the numbers come from, and when.")

    def cost(self, usage: Usage) -> float:
        return self.cost_of(usage.input_tokens, usage.output_tokens)

    def cost_of(self, input_tokens: int, output_tokens: int) -> float:
        return (
            self.per_call
            + input_tokens * self.input_per_mtok / 1e6
            + output_tokens * self.output_per_mtok / 1e6
        )


class ModelCard(BaseModel):
    """The facts about a model that eligibility, bids and audits rely on."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="`provider:name`, unique among registered models.")
    price: Price = Field(default_factory=Price)
    context_window: int = Field(ge=1, description="Tokens of prompt plus output.")
    residency: Residency
    region: str | None = None
    strategies: frozenset[OutputStrategy] = Field(
        description="Output strategies this model supports."
    )
    latency_prior_ms: float = Field(
        default=1000.0, ge=0, description="Expected latency of one call before any history."
    )
    quality_prior: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Expected P(success) before any outcome is seen (a published score, say).",
    )
    tasks: frozenset[str] | None = Field(
        default=None, description="The only tasks this model serves (None: any task)."
    )
    description: str = ""

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        parse_model_id(value)
        return value

    @property
    def provider(self) -> str:
        return parse_model_id(self.id)[0]

    @property
    def name(self) -> str:
        return parse_model_id(self.id)[1]

    def best_strategy(self) -> OutputStrategy:
        """The strongest strategy this model supports."""
        for strategy in OutputStrategy:
            if strategy in self.strategies:
                return strategy
        return OutputStrategy.PROMPT
