"""A cache in front of any encoder, keyed by the sha256 of each text.

In-process and bounded (least recently used first out): vectors are recomputed in each new
process. A cached vector is the one the wrapped encoder gave, so a hit equals a miss.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from atomic.encoders._base import Embeddings, Encoder, SyncEncoder

__all__ = ["CachedEncoder"]


def text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class CachedEncoder:
    """``inner`` behind an LRU of ``size`` vectors (384 floats each: 10,000 take 15 MB).

    Misses of one call are embedded in one batch; ``hits`` and ``misses`` count texts.

    >>> import asyncio
    >>> from atomic.encoders import FunctionEncoder
    >>> enc = CachedEncoder(FunctionEncoder(lambda t: [[1.0, 0.0]] * len(t), name="f", dim=2))
    >>> _ = asyncio.run(enc.encode(["a", "a", "b"]))
    >>> enc.hits, enc.misses
    (1, 2)
    """

    def __init__(self, inner: Encoder, size: int = 10_000) -> None:
        self.inner = inner
        self.size = size
        self.hits = 0
        self.misses = 0
        self._vectors: OrderedDict[bytes, np.ndarray] = OrderedDict()
        # Training runs in a worker thread while bids read on the event loop.
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def __repr__(self) -> str:
        return f"CachedEncoder({self.inner!r}, size={self.size})"

    async def encode(self, texts: Sequence[str]) -> Embeddings:
        keys, found, missing = self._lookup(texts)
        if missing:
            found.update(self._store(missing, await self.inner.encode(list(missing.values()))))
        return self._gather(keys, found)

    def encode_sync(self, texts: Sequence[str]) -> Embeddings:
        """As :meth:`encode`, on this thread (``inner`` must be a :class:`SyncEncoder`)."""
        if not isinstance(self.inner, SyncEncoder):
            raise TypeError(f"{self.inner!r} has no synchronous encode")
        keys, found, missing = self._lookup(texts)
        if missing:
            found.update(self._store(missing, self.inner.encode_sync(list(missing.values()))))
        return self._gather(keys, found)

    async def aclose(self) -> None:
        """Close the wrapped encoder's connections, if it has any."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()

    def cached(self, text: str) -> np.ndarray | None:
        """The vector of ``text`` if it is in the cache (no encoding, no count)."""
        with self._lock:
            return self._vectors.get(text_hash(text))

    def _lookup(
        self, texts: Sequence[str]
    ) -> tuple[list[bytes], dict[bytes, np.ndarray], dict[bytes, str]]:
        keys = [text_hash(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        missing: dict[bytes, str] = {}
        with self._lock:
            for key, text in zip(keys, texts, strict=True):
                if key in self._vectors:
                    self._vectors.move_to_end(key)
                    found[key] = self._vectors[key]
                    self.hits += 1
                elif key in missing:
                    self.hits += 1  # a repeat within the batch is embedded once
                else:
                    missing[key] = text
                    self.misses += 1
        return keys, found, missing

    def _store(self, missing: dict[bytes, str], vectors: Embeddings) -> dict[bytes, np.ndarray]:
        if len(vectors) != len(missing):
            raise ValueError(
                f"{self.inner!r} returned {len(vectors)} vectors for {len(missing)} texts"
            )
        fresh = {key: np.array(vector) for key, vector in zip(missing, vectors, strict=True)}
        with self._lock:
            for key, vector in fresh.items():
                vector.setflags(write=False)
                self._vectors[key] = vector
                self._vectors.move_to_end(key)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return fresh

    def _gather(self, keys: list[bytes], vectors: dict[bytes, np.ndarray]) -> Embeddings:
        # Not from the cache: a cache smaller than the batch has evicted some of them.
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = vectors[key]
        return out
