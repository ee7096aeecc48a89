"""An encoder backed by a Python function: for tests, and to plug in any embedder."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from atomic.encoders._base import Embeddings, normalised

__all__ = ["FunctionEncoder"]


class FunctionEncoder:
    """``function(texts) -> rows`` as an encoder named ``name``; rows are normalised here.

    >>> enc = FunctionEncoder(lambda texts: [[3.0, 4.0] for _ in texts], name="f", dim=2)
    >>> enc.encode_sync(["x"]).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """

    def __init__(
        self, function: Callable[[list[str]], npt.ArrayLike], *, name: str, dim: int
    ) -> None:
        self.function = function
        self.name = name
        self.dim = dim
        self.calls = 0

    def __repr__(self) -> str:
        return f"FunctionEncoder(name={self.name!r}, dim={self.dim})"

    async def encode(self, texts: Sequence[str]) -> Embeddings:
        return self.encode_sync(texts)

    def encode_sync(self, texts: Sequence[str]) -> Embeddings:
        self.calls += 1
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = normalised(self.function(list(texts)))
        if vectors.shape != (len(texts), self.dim):
            raise ValueError(f"{self!r} gave shape {vectors.shape} for {len(texts)} texts")
        return vectors
