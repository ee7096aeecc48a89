"""Model adapters: the protocol, model cards, and the built-in adapters.

``OpenAICompatModel`` is imported on first use: it brings httpx, which brings rich and click,
a tenth of a second that a process without a remote model need not pay.
"""

from typing import TYPE_CHECKING, Any

from atomic.models._base import (
    Assessment,
    Message,
    Model,
    ModelRequest,
    ModelResponse,
    OutputSpec,
)
from atomic.models._card import (
    ModelCard,
    OutputStrategy,
    Price,
    Residency,
    Usage,
    parse_model_id,
)
from atomic.models._function import FunctionModel, ScriptedModel, function_card
from atomic.models._llamacpp import LlamaCppModel
from atomic.models._local import BUILTIN_LOCAL_IDS, builtin_local_model
from atomic.models._replay import (
    ReplayModel,
    RouterBenchData,
    RouterBenchRow,
    load_routerbench,
    replay_model_id,
    replay_models,
)

if TYPE_CHECKING:
    from atomic.models._openai import OpenAICompatModel

__all__ = [
    "BUILTIN_LOCAL_IDS",
    "Assessment",
    "FunctionModel",
    "LlamaCppModel",
    "Message",
    "Model",
    "ModelCard",
    "ModelRequest",
    "ModelResponse",
    "OpenAICompatModel",
    "OutputSpec",
    "OutputStrategy",
    "Price",
    "ReplayModel",
    "Residency",
    "RouterBenchData",
    "RouterBenchRow",
    "ScriptedModel",
    "Usage",
    "builtin_local_model",
    "function_card",
    "load_routerbench",
    "parse_model_id",
    "replay_model_id",
    "replay_models",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAICompatModel":
        from atomic.models._openai import OpenAICompatModel

        return OpenAICompatModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
