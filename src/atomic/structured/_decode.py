"""From raw model text to a validated value, or the list of reasons it is not one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from atomic.structured._bounded import cut_at_bound_error
from atomic.structured._parse import ParseFailure, parse_tolerant
from atomic.structured._schema import OutputKind, OutputSchema, format_validation_errors

__all__ = ["Decoded", "decode"]

Out = TypeVar("Out")


@dataclass
class Decoded(Generic[Out]):
    """The outcome of decoding one output: ``value`` when ``errors`` is empty."""

    value: Out | None = None
    parsed: Any = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _bare_fallback(schema: OutputSchema[Any], text: str) -> Any:
    """What a model that wrote no JSON most plausibly meant, for label and text outputs."""
    stripped = text.strip().strip("`").strip().strip("\"'").strip()
    if schema.kind is OutputKind.LABEL:
        by_folded = {label.casefold(): label for label in schema.labels}
        return by_folded.get(stripped.rstrip(".").casefold(), stripped)
    return stripped


def decode(schema: OutputSchema[Out], text: str) -> Decoded[Out]:
    """Parse ``text`` tolerantly and validate it against ``schema``."""
    try:
        parsed = parse_tolerant(text)
    except ParseFailure as exc:
        if schema.kind not in (OutputKind.LABEL, OutputKind.GENERATION):
            return Decoded(errors=[f"output: not JSON ({exc}); got {text[:80]!r}"])
        parsed = _bare_fallback(schema, text)
    if isinstance(parsed, str) and schema.kind is OutputKind.LABEL:
        parsed = _bare_fallback(schema, parsed)
    try:
        value = schema.validate(parsed)
    except ValidationError as exc:
        return Decoded(parsed=parsed, errors=format_validation_errors(exc))
    cut = cut_at_bound_error(schema, value)
    if cut is not None:
        return Decoded(parsed=parsed, errors=[cut])
    return Decoded(value=value, parsed=schema.dump(value))
