"""A trained classifier's saved form: plain arrays in a NumPy ``.npz``, never a pickle.

Pickle (and joblib, which is pickle) runs code when it is loaded, and the blob lives in a
database that many processes read: whoever can write a row could run code in every worker.
So the blob holds only numbers and strings: each TF-IDF part's vocabulary and IDF weights,
the logistic regression's classes, coefficients and intercepts, and a JSON header with the
parameters the parts were built with and the sentence encoder whose embedding fills the last
columns, if any (by name: the vectors are recomputed, never stored). It is read with
``allow_pickle=False``, which refuses object arrays outright, and every array is checked for
its expected type and shape.

Strings are stored as one UTF-8 byte array and the offsets between them: compact, and a
``<U`` array would pad every term to the longest.
"""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from atomic.errors import StorageError

__all__ = ["FORMAT", "EncoderUsed", "FeaturePart", "SavedClassifier", "read_blob", "write_blob"]

FORMAT = "atomic-classifier/1"

_PARAM_TYPES = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class FeaturePart:
    """One TF-IDF vectoriser: how it was built, its terms (column order) and their IDF."""

    name: str
    params: dict[str, Any]
    terms: list[str]
    idf: npt.NDArray[np.float64]


@dataclass(frozen=True)
class EncoderUsed:
    """The sentence encoder a classifier was trained with: its embedding, times ``weight``,
    fills the ``dim`` columns after the TF-IDF parts."""

    name: str
    dim: int
    weight: float


@dataclass(frozen=True)
class SavedClassifier:
    """What a trained :class:`~atomic.adaptation.TextClassifier` needs to predict again."""

    parts: list[FeaturePart]
    classes: list[str]
    coef: npt.NDArray[np.float64]
    intercept: npt.NDArray[np.float64]
    model_params: dict[str, Any]
    encoder: EncoderUsed | None = None


def _strings_to_arrays(strings: list[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    encoded = [s.encode() for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _arrays_to_strings(data: npt.NDArray[Any], offsets: npt.NDArray[Any]) -> list[str]:
    raw = data.tobytes()
    bounds = offsets.tolist()
    return [raw[a:b].decode() for a, b in itertools.pairwise(bounds)]


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Only JSON scalars and tuples of them: nothing that names code to run."""
    plain: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, tuple | list) and all(isinstance(v, _PARAM_TYPES) for v in value):
            plain[key] = list(value)
        elif isinstance(value, _PARAM_TYPES):
            plain[key] = value
    return plain


def write_blob(saved: SavedClassifier) -> bytes:
    """The ``.npz`` bytes of ``saved`` (uncompressed: coefficients barely compress, and
    loading them is then a copy)."""
    header = {
        "format": FORMAT,
        "parts": [{"name": p.name, "params": _plain(p.params)} for p in saved.parts],
        "model_params": _plain(saved.model_params),
    }
    if saved.encoder is not None:
        header["encoder"] = _plain(vars(saved.encoder))
    arrays: dict[str, npt.NDArray[Any]] = {
        "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
        "coef": np.ascontiguousarray(saved.coef, dtype=np.float64),
        "intercept": np.ascontiguousarray(saved.intercept, dtype=np.float64),
    }
    arrays["classes"], arrays["classes_offsets"] = _strings_to_arrays(saved.classes)
    for i, part in enumerate(saved.parts):
        arrays[f"terms{i}"], arrays[f"terms{i}_offsets"] = _strings_to_arrays(part.terms)
        arrays[f"idf{i}"] = np.asarray(part.idf, dtype=np.float64)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def _rejected(reason: str) -> StorageError:
    return StorageError(
        f"a saved classifier was rejected: {reason}",
        hint="it is not a classifier this Atomic wrote; `atomic task reset` (or deleting its "
        "row in the classifiers table) drops it, and the classifier is retrained from memory",
        context={"format": FORMAT},
    )


def _array(npz: Any, name: str, dtype: type[np.generic], ndim: int) -> npt.NDArray[Any]:
    try:
        array = npz[name]
    except KeyError:
        raise _rejected(f"it has no {name!r} array") from None
    except ValueError as exc:  # numpy refuses an object array when pickles are not allowed
        raise _rejected(f"its {name!r} array holds Python objects ({exc})") from None
    if array.dtype != np.dtype(dtype) or array.ndim != ndim:
        raise _rejected(f"its {name!r} array is {array.dtype}[{array.ndim}d], not {dtype}")
    return np.asarray(array)


def _strings(npz: Any, name: str) -> list[str]:
    data = _array(npz, name, np.uint8, 1)
    offsets = _array(npz, f"{name}_offsets", np.int64, 1)
    if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(data):
        raise _rejected(f"its {name!r} offsets do not match its data")
    if np.any(np.diff(offsets) < 0):
        raise _rejected(f"its {name!r} offsets go backwards")
    try:
        return _arrays_to_strings(data, offsets)
    except UnicodeDecodeError:
        raise _rejected(f"its {name!r} strings are not UTF-8") from None


def _encoder(spec: Any) -> EncoderUsed | None:
    if spec is None:  # TF-IDF alone, and every blob written before encoders
        return None
    used = EncoderUsed(str(spec["name"]), int(spec["dim"]), float(spec["weight"]))
    if used.dim <= 0:
        raise ValueError(f"encoder dimension {used.dim}")
    return used


def read_blob(blob: bytes) -> SavedClassifier:
    """Parse a blob :func:`write_blob` wrote; anything else raises a :class:`StorageError`."""
    try:
        npz = np.load(io.BytesIO(blob), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise _rejected(f"it is not a NumPy .npz archive ({exc})") from None
    with npz:
        try:
            header = json.loads(_array(npz, "header", np.uint8, 1).tobytes())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _rejected("its header is not JSON") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            found = header.get("format") if isinstance(header, dict) else None
            raise _rejected(f"its format is {found!r}, not {FORMAT!r}")
        try:
            specs = [(str(s["name"]), dict(s["params"])) for s in header["parts"]]
            model_params = dict(header["model_params"])
            encoder = _encoder(header.get("encoder"))
        except (KeyError, TypeError, ValueError):
            raise _rejected("its header does not describe the classifier's parts") from None
        parts = [
            FeaturePart(
                name=name,
                params=_plain(params),
                terms=_strings(npz, f"terms{i}"),
                idf=_array(npz, f"idf{i}", np.float64, 1),
            )
            for i, (name, params) in enumerate(specs)
        ]
        saved = SavedClassifier(
            parts=parts,
            classes=_strings(npz, "classes"),
            coef=_array(npz, "coef", np.float64, 2),
            intercept=_array(npz, "intercept", np.float64, 1),
            model_params=_plain(model_params),
            encoder=encoder,
        )
    width = sum(len(p.terms) for p in parts) + (encoder.dim if encoder else 0)
    if any(len(p.terms) != len(p.idf) for p in parts) or saved.coef.shape[1] != width:
        raise _rejected("its vocabularies, weights and coefficients disagree in size")
    if saved.coef.shape[0] != len(saved.intercept):
        raise _rejected("its coefficients and intercepts disagree in size")
    return saved
