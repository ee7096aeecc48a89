"""The encoder protocol: a name, a dimension, and batched texts to unit vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Embeddings", "Encoder", "SyncEncoder", "normalised"]

Embeddings = npt.NDArray[np.float32]
"""One row per text, ``float32``, each row of unit length (cosine similarity is a dot)."""


@runtime_checkable
class Encoder(Protocol):
    """Embeds texts. ``name`` identifies the vector space: two encoders with the same name
    give the same vectors, so a classifier trained on one may predict with the other.

    >>> import asyncio
    >>> from atomic.encoders import FunctionEncoder
    >>> enc = FunctionEncoder(lambda texts: [[len(t), 1.0] for t in texts], name="len", dim=2)
    >>> asyncio.run(enc.encode(["ab"])).shape
    (1, 2)
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    async def encode(self, texts: Sequence[str]) -> Embeddings:
        """``len(texts)`` rows of ``dim`` float32, L2-normalised; one call may batch them."""
        ...


@runtime_checkable
class SyncEncoder(Encoder, Protocol):
    """An encoder that can also embed on the caller's thread: what a classifier needs when
    it trains in a worker thread or predicts inside a synchronous bid."""

    def encode_sync(self, texts: Sequence[str]) -> Embeddings: ...


def normalised(vectors: npt.ArrayLike) -> Embeddings:
    """``vectors`` as float32 rows of unit length (a zero row stays zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        array = array.reshape(len(array), -1)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(array / norms, dtype=np.float32)
