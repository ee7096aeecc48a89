"""The registered models, by id; and the registry Atomic builds from its settings."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from atomic.config import AtomicConfig, EndpointConfig, LocalModelConfig, load_config
from atomic.errors import ConfigError, ModelNotFoundError
from atomic.models._base import Model
from atomic.models._card import ModelCard, OutputStrategy, Price, Residency, parse_model_id
from atomic.models._openai_endpoint import EndpointMemory
from atomic.models._prices import lookup_price
from atomic.settings import AtomicSettings

if TYPE_CHECKING:
    from atomic.models._llamacpp import LlamaCppModel
    from atomic.models._openai import OpenAICompatModel

__all__ = ["ModelRegistry", "default_registry", "endpoint_model", "gguf_model"]


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


def default_registry(settings: AtomicSettings, config: AtomicConfig | None = None) -> ModelRegistry:
    """The models the settings and ``atomic.toml`` declare: the built-in local models, the
    file's ``[[local]]`` GGUF files and ``[[models]]`` endpoints, and the endpoint of
    ``ATOMIC_OPENAI_BASE_URL``. Nothing is loaded or contacted yet."""
    from atomic.models._local import builtin_local_model

    config = config if config is not None else load_config(settings.config)
    registry = ModelRegistry()
    for model_id in settings.local_models:
        registry.add(builtin_local_model(model_id, settings))
    for local in config.local:
        registry.add(gguf_model(local, settings, config))
    for endpoint in config.models:
        registry.add(endpoint_model(endpoint, settings, config))
    for endpoint in _env_endpoints(settings):
        registry.add(endpoint_model(endpoint, settings, config))
    return registry


def _env_endpoints(settings: AtomicSettings) -> list[EndpointConfig]:
    if settings.openai_models and not settings.openai_base_url:
        raise ConfigError(
            "ATOMIC_OPENAI_MODELS is set but ATOMIC_OPENAI_BASE_URL is not",
            hint="set ATOMIC_OPENAI_BASE_URL to the endpoint, e.g. http://127.0.0.1:8000/v1, "
            "or declare the models in atomic.toml",
            context={"variable": "ATOMIC_OPENAI_BASE_URL"},
        )
    if settings.openai_base_url and not settings.openai_models:
        raise ConfigError(
            f"ATOMIC_OPENAI_BASE_URL is {settings.openai_base_url!r} but ATOMIC_OPENAI_MODELS is "
            "empty, so no model would be registered there",
            hint="name the models the server serves, e.g. ATOMIC_OPENAI_MODELS=smollm2,qwen2.5 "
            "(GET /v1/models lists them), or declare them in atomic.toml",
            context={"variable": "ATOMIC_OPENAI_MODELS", "value": settings.openai_base_url},
        )
    assert settings.openai_base_url is not None or not settings.openai_models
    return [
        EndpointConfig(base_url=settings.openai_base_url or "", model=name)
        for name in settings.openai_models
    ]


def endpoint_model(
    endpoint: EndpointConfig, settings: AtomicSettings, config: AtomicConfig | None = None
) -> OpenAICompatModel:
    """The adapter and card for one ``[[models]]`` entry."""
    from atomic.models._openai import OpenAICompatModel, is_loopback_url

    loopback = is_loopback_url(endpoint.base_url)
    strategies = frozenset(
        endpoint.strategies or [OutputStrategy.JSON_SCHEMA, OutputStrategy.PROMPT]
    )
    card = ModelCard(
        id=endpoint.model_id,
        price=_price(endpoint, loopback),
        context_window=endpoint.context_window or DEFAULT_ENDPOINT_WINDOW,
        residency=endpoint.residency or (Residency.LOCAL if loopback else Residency.CLOUD),
        region=endpoint.region,
        strategies=strategies,
        latency_prior_ms=endpoint.latency_prior_ms or 1000.0,
        tasks=frozenset(endpoint.tasks) if endpoint.tasks is not None else None,
        description=endpoint.description,
    )
    return OpenAICompatModel(
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=_api_key(endpoint, settings, loopback, config),
        timeout=endpoint.timeout or settings.request_timeout,
        card=card,
        request_defaults=endpoint.request.model_dump(exclude_none=True),
        memory=EndpointMemory.in_home(settings.home),
        window_from_server=endpoint.context_window is None,
    )


DEFAULT_ENDPOINT_WINDOW = 8192
"""The window assumed for an endpoint that declares none, until the server says its own."""


def _price(endpoint: EndpointConfig, loopback: bool) -> Price:
    if endpoint.price is not None:
        return Price(
            **endpoint.price.model_dump(exclude={"source"}),
            source=(endpoint.price.source or "atomic.toml"),
        )
    if loopback:
        return Price(source="loopback endpoint: no price configured")
    entry = lookup_price(endpoint.model)
    if entry is not None:
        return entry.price()
    return Price(source="unknown: not in atomic.toml nor in the price table")


def _api_key(
    endpoint: EndpointConfig, settings: AtomicSettings, loopback: bool, config: AtomicConfig | None
) -> str | None:
    where = f" in {config.path}" if config is not None and config.path else ""
    if endpoint.api_key_env:
        key = os.environ.get(endpoint.api_key_env)
        if not key:
            raise ConfigError(
                f"model {endpoint.model_id!r}{where} takes its key from "
                f"{endpoint.api_key_env}, which is not set",
                hint=f"export {endpoint.api_key_env}=... before running Atomic",
                context={"variable": endpoint.api_key_env, "model_id": endpoint.model_id},
            )
        return key
    if settings.openai_api_key is not None:
        return settings.openai_api_key.get_secret_value()
    if loopback:
        return None  # a server on this machine needs no key unless one is configured
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    raise ConfigError(
        f"model {endpoint.model_id!r}{where} at {endpoint.base_url} has no API key",
        hint='name the variable holding its key with api_key_env = "MY_KEY" in atomic.toml, '
        "or set OPENAI_API_KEY",
        context={"variable": "OPENAI_API_KEY", "model_id": endpoint.model_id},
    )


def gguf_model(
    local: LocalModelConfig, settings: AtomicSettings, config: AtomicConfig | None = None
) -> LlamaCppModel:
    """The llama.cpp adapter for one ``[[local]]`` GGUF file (loaded on first use)."""
    from atomic.models._llamacpp import LlamaCppModel

    if not local.path.is_file():
        where = f" (in {config.path})" if config is not None and config.path else ""
        raise ConfigError(
            f"local model {local.id!r}{where}: {local.path} is not a file",
            hint="give the path of a .gguf file in `path` (~ is expanded)",
            context={"model_id": local.id, "path": str(local.path)},
        )
    window = local.context_window or settings.n_ctx
    card = ModelCard(
        id=local.id,
        price=Price(source="local CPU, no per-token price"),
        context_window=window,
        residency=Residency.LOCAL,
        strategies=frozenset({OutputStrategy.GRAMMAR, OutputStrategy.PROMPT}),
        latency_prior_ms=local.latency_prior_ms,
        tasks=frozenset(local.tasks) if local.tasks is not None else None,
        description=local.description or f"GGUF file {local.path}",
    )
    return LlamaCppModel(
        local.path,
        card=card,
        n_ctx=window,
        n_threads=settings.threads,
        constraint_backend=settings.constraint_backend,
        chat_format=local.chat_format,
    )
