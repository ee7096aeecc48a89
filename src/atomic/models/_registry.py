"""The registered models, by id; and the registry Atomic builds from its settings."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from atomic.errors import ConfigError, ModelNotFoundError
from atomic.models._base import Model
from atomic.models._card import ModelCard, parse_model_id
from atomic.settings import AtomicSettings

__all__ = ["ModelRegistry", "default_registry"]


class ModelRegistry:
    """Models by id. ``provider/name`` and ``provider:name`` name the same model."""

    def __init__(self, models: Iterable[Model] = ()) -> None:
        self._models: dict[str, Model] = {}
        for model in models:
            self.add(model)

    @staticmethod
    def _key(model_id: str) -> str:
        provider, name = parse_model_id(model_id)
        return f"{provider}:{name}"

    def add(self, model: Model) -> Model:
        key = self._key(model.id)
        if key in self._models:
            raise ConfigError(
                f"two models are registered as {key!r}",
                hint="give each model a distinct id",
                context={"model_id": key},
            )
        self._models[key] = model
        return model

    def get(self, model_id: str) -> Model:
        key = self._key(model_id)
        try:
            return self._models[key]
        except KeyError:
            close = difflib.get_close_matches(key, list(self._models), n=3, cutoff=0.5)
            known = ", ".join(self._models) or "none"
            hint = f"did you mean {' or '.join(close)}?" if close else f"registered: {known}"
            raise ModelNotFoundError(
                f"no model {model_id!r} is registered",
                hint=hint + " (`atomic models` lists them)",
                context={"model_id": model_id, "registered": list(self._models)},
            ) from None

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and self._key(model_id) in self._models

    def __iter__(self) -> Iterator[Model]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def cards(self) -> list[ModelCard]:
        return [model.card for model in self]

    async def aclose(self) -> None:
        for model in self:
            await model.aclose()


def default_registry(settings: AtomicSettings) -> ModelRegistry:
    """The built-in local models named in settings, plus any OpenAI-compatible models."""
    from atomic.models._local import builtin_local_model

    registry = ModelRegistry()
    for model_id in settings.local_models:
        registry.add(builtin_local_model(model_id, settings))
    if settings.openai_models and not settings.openai_base_url:
        raise ConfigError(
            "ATOMIC_OPENAI_MODELS is set but ATOMIC_OPENAI_BASE_URL is not",
            hint="set ATOMIC_OPENAI_BASE_URL to the endpoint, e.g. http://127.0.0.1:8000/v1",
            context={"variable": "ATOMIC_OPENAI_BASE_URL"},
        )
    for name in settings.openai_models:
        # Only here: httpx (and the rich and click it imports) is for remote models.
        from atomic.models._openai import OpenAICompatModel

        assert settings.openai_base_url is not None
        registry.add(
            OpenAICompatModel(
                base_url=settings.openai_base_url,
                model=name,
                api_key=settings.api_key(),
                timeout=settings.request_timeout,
            )
        )
    return registry
