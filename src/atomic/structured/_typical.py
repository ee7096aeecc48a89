"""How long a typical output of a schema is: what a bid expects to pay for before history.

A sample instance is built from the wire schema (the longest label, bounded strings at a
typical length, two items per list) and serialised as the model would write it; its size in
tokens is the estimate. Half of ``max_output_tokens`` overestimated a three-label answer
fivefold and refused calls a budget could afford.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["typical_output"]

_FREE_TEXT_CHARS = 400
"""A free-text field with no bound: a paragraph."""
_SHORT_TEXT_CHARS = 24
"""A string field of a structured output: a name, an id, a phrase."""
_DEPTH = 6


def typical_output(wire_schema: dict[str, Any]) -> str:
    """A typical output for ``wire_schema``, as compact JSON.

    >>> typical_output({"type": "object", "properties": {"label": {"enum": ["a", "bbb"]}}})
    '{"label":"bbb"}'
    """
    defs = wire_schema.get("$defs", {})
    sample = _sample(wire_schema, defs, 0, top=True)
    return json.dumps(sample, separators=(",", ":"), ensure_ascii=False)


def _sample(schema: dict[str, Any], defs: dict[str, Any], depth: int, *, top: bool = False) -> Any:
    if depth > _DEPTH:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _sample(defs.get(ref.removeprefix("#/$defs/"), {}), defs, depth + 1)
    if "enum" in schema:
        return max((v for v in schema["enum"]), key=lambda v: len(json.dumps(v)), default=None)
    if "const" in schema:
        return schema["const"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(combinator, []) if o.get("type") != "null"]
        if options:
            return _sample(options[0], defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        # A wrapped free-text output (`{"text": ...}`) is the one place long text is typical.
        free = top and set(properties) == {"text"}
        return {
            name: _string(sub, free) if free else _sample(sub, defs, depth + 1)
            for name, sub in properties.items()
        }
    if kind == "array":
        item = _sample(schema.get("items", {}), defs, depth + 1)
        count = max(int(schema.get("minItems", 0)), min(2, int(schema.get("maxItems", 2))))
        return [item] * count
    if kind == "string":
        return _string(schema, False)
    if kind == "integer":
        return 1234
    if kind == "number":
        return 1234.56
    if kind == "boolean":
        return False
    return None


def _string(schema: dict[str, Any], free_text: bool) -> str:
    if schema.get("format") in ("date", "date-time"):
        return "2026-01-01T00:00:00Z" if schema["format"] == "date-time" else "2026-01-01"
    default = _FREE_TEXT_CHARS if free_text else _SHORT_TEXT_CHARS
    length = min(int(schema.get("maxLength", default)), default)
    length = max(length, int(schema.get("minLength", 0)))
    # Words, not one run of letters: tokenizers split prose into about 4 characters a token.
    return ("word " * (length // 5 + 1))[:length]
