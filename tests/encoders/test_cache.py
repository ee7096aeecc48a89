"""The cache in front of an encoder: hits by the text's hash, one batch for the misses."""

from __future__ import annotations

import numpy as np

from atomic.encoders import CachedEncoder, FunctionEncoder, LocalEncoder


def _counting() -> tuple[FunctionEncoder, list[list[str]]]:
    batches: list[list[str]] = []

    def embed(texts: list[str]) -> list[list[float]]:
        batches.append(texts)
        return [[float(len(t)), 1.0] for t in texts]

    return FunctionEncoder(embed, name="len", dim=2), batches


async def test_a_repeated_text_is_embedded_once() -> None:
    inner, batches = _counting()
    encoder = CachedEncoder(inner)
    first = await encoder.encode(["a", "bb", "a"])
    again = await encoder.encode(["bb", "ccc", "a"])
    assert batches == [["a", "bb"], ["ccc"]]  # the misses, one batch per call
    assert (encoder.hits, encoder.misses) == (3, 3)
    np.testing.assert_array_equal(first[1], again[0])
    np.testing.assert_array_equal(first[0], first[2])
    assert encoder.cached("ccc") is not None
    assert encoder.cached("dddd") is None


async def test_the_least_recently_used_vector_leaves_first() -> None:
    inner, batches = _counting()
    encoder = CachedEncoder(inner, size=2)
    await encoder.encode(["a", "bb"])
    await encoder.encode(["a"])  # "a" is now the more recent
    await encoder.encode(["ccc"])  # evicts "bb"
    await encoder.encode(["a", "bb"])
    assert batches == [["a", "bb"], ["ccc"], ["bb"]]


async def test_a_batch_larger_than_the_cache_still_returns_every_row() -> None:
    inner, _ = _counting()
    vectors = await CachedEncoder(inner, size=1).encode(["a", "bb", "ccc"])
    assert vectors.shape == (3, 2)
    assert len({tuple(v) for v in vectors.tolist()}) == 3


async def test_a_hit_is_the_vector_the_model_gave(local_encoder: LocalEncoder) -> None:
    encoder = CachedEncoder(local_encoder)
    texts = ["I still have not received my card", "What is the exchange rate?"]
    missed = await encoder.encode(texts)
    hit = encoder.encode_sync(texts)
    assert encoder.hits == 2
    np.testing.assert_array_equal(missed, hit)
    np.testing.assert_allclose(hit, local_encoder.encode_sync(texts), atol=1e-6)
