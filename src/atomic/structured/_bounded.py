"""Bounded text that reads whole: an output cut off by its length bound is not valid.

A ``Annotated[str, Field(max_length=N)]`` output can come back exactly N characters long and
stopped mid-sentence: constrained decoding closes the string at the bound, or the model simply
runs into it. Pydantic accepts it (it is not too long); a reader sees "…and I can't ". Such a
text fails validation here instead, so the model is re-asked with the reason.
"""

from __future__ import annotations

from typing import Any

from atomic.structured._schema import OutputKind, OutputSchema

__all__ = ["cut_at_bound_error", "text_bounds"]

# A text that ends with one of these (after trailing spaces) ends a sentence or a quote.
_ENDINGS = (".", "!", "?", "…", '"', "'", ")", "]", "»", "”", "’", ":", ";")
# Within this many characters of the bound, a text that does not end a sentence was cut.
_SLACK = 2


def text_bounds(schema: OutputSchema[Any]) -> tuple[int | None, int | None]:
    """The (min_length, max_length) of a bounded text output, or (None, None)."""
    if schema.kind is not OutputKind.GENERATION:
        return None, None
    value = schema.value_schema
    low, high = value.get("minLength"), value.get("maxLength")
    return (
        low if isinstance(low, int) else None,
        high if isinstance(high, int) else None,
    )


def cut_at_bound_error(schema: OutputSchema[Any], text: Any) -> str | None:
    """Why ``text`` reads as cut off at its ``max_length``, or None if it reads whole."""
    _, bound = text_bounds(schema)
    if bound is None or not isinstance(text, str) or len(text) < bound - _SLACK:
        return None
    if text.rstrip().endswith(_ENDINGS):
        return None
    tail = text[-24:]
    return (
        f"text: cut off at the {bound}-character limit in mid-sentence (it ends {tail!r}); "
        f"write a complete answer of at most {bound} characters"
    )
