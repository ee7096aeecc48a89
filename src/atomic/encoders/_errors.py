"""What an encoder raises, under :class:`~atomic.errors.AtomicError`.

```
AtomicError
└── EncoderError                     encoder.error
    ├── EncoderNotInstalledError     encoder.not_installed
    ├── EncoderWeightsError          encoder.weights_mismatch
    └── EncoderEndpointError         encoder.endpoint
        └── EncoderEndpointDownError encoder.endpoint_down   retryable
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atomic.errors import AtomicError

__all__ = [
    "EncoderEndpointDownError",
    "EncoderEndpointError",
    "EncoderError",
    "EncoderNotInstalledError",
    "EncoderWeightsError",
]


class EncoderError(AtomicError):
    """An encoder could not embed a text."""

    code = "encoder.error"


class EncoderNotInstalledError(EncoderError):
    """The local encoder's packages (the ``encoder`` extra) are not installed."""

    code = "encoder.not_installed"


class EncoderWeightsError(EncoderError):
    """The installed weights or tokenizer are not the files Atomic pinned (their sha256
    differs): a classifier trained on other vectors would silently predict wrong."""

    code = "encoder.weights_mismatch"


class EncoderEndpointError(EncoderError):
    """An embeddings endpoint refused the request (a 4xx) or answered with something that is
    not an embeddings list. ``status`` is the HTTP status when there was one."""

    code = "encoder.endpoint"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, hint=hint, context={**(context or {}), "status": status})
        self.status = status


class EncoderEndpointDownError(EncoderEndpointError):
    """The endpoint gave no answer, timed out, was rate-limited (429) or failed (5xx): the
    same request may succeed later."""

    code = "encoder.endpoint_down"
    is_retryable = True
