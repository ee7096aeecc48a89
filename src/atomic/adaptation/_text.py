"""The text of a task input, as memory, retrieval and learned models read it."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["input_key", "text_of"]

_NON_WORD = re.compile(r"[^\w]+")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def text_of(data: Mapping[str, Any]) -> str:
    """The input's string fields, in order, one per line (its compact JSON if it has none)."""
    strings = _strings(data)
    if strings:
        return "\n".join(strings)
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def input_key(data: Mapping[str, Any]) -> str:
    """A hash that near-identical inputs share: case, punctuation and spacing are ignored."""
    normalised = " ".join(_NON_WORD.sub(" ", text_of(data).lower()).split())
    return hashlib.sha256(normalised.encode()).hexdigest()[:32]
