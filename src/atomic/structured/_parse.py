"""Tolerant parsing: get the JSON a model meant out of what it wrote."""

from __future__ import annotations

import json
import re
from typing import Any

import json_repair

__all__ = ["ParseFailure", "parse_tolerant"]

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


class ParseFailure(ValueError):
    """The text holds no JSON value that could be recovered."""


def _outermost_json(text: str) -> str | None:
    """The first balanced ``{...}`` or ``[...]`` span, skipping brackets inside strings."""
    start = next((i for i, ch in enumerate(text) if ch in "{["), None)
    if start is None:
        return None
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return text[start : i + 1]
            if not stack:
                return text[start : i + 1]
    return text[start:]  # unterminated: let the repairer close it


def parse_tolerant(text: str) -> Any:
    """Parse the JSON value in ``text``, forgiving what models commonly get wrong.

    Accepts code fences, prose around the JSON, trailing commas, single quotes, unquoted keys
    and a truncated tail. Raises :class:`ParseFailure` when nothing JSON-like is there.

    >>> parse_tolerant("Sure! ```json\\n{'a': 1,}\\n``` Hope that helps.")
    {'a': 1}
    """
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    fenced = _FENCE.search(stripped)
    candidate = fenced.group(1).strip() if fenced else stripped
    span = _outermost_json(candidate)
    if span is None:
        raise ParseFailure("no JSON object or array in the output")
    try:
        return json.loads(span)
    except ValueError:
        pass
    repaired = json_repair.loads(span)
    if repaired == "" or repaired is None:
        raise ParseFailure("the output's JSON could not be repaired")
    return repaired
