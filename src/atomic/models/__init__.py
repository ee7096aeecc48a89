"""Model adapters: the protocol, model cards, and the built-in adapters."""

from atomic.models._base import Message, Model, ModelRequest, ModelResponse, OutputSpec
from atomic.models._card import (
    ModelCard,
    OutputStrategy,
    Price,
    Residency,
    Usage,
    parse_model_id,
)
from atomic.models._function import FunctionModel, ScriptedModel, function_card

__all__ = [
    "FunctionModel",
    "Message",
    "Model",
    "ModelCard",
    "ModelRequest",
    "ModelResponse",
    "OutputSpec",
    "OutputStrategy",
    "Price",
    "Residency",
    "ScriptedModel",
    "Usage",
    "function_card",
    "parse_model_id",
]
