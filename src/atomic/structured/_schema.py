"""An output type seen three ways: its kind, the JSON Schema sent on the wire, its validator."""

from __future__ import annotations

import enum
import json
import typing
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

__all__ = ["OutputKind", "OutputSchema", "format_validation_errors"]

Out = TypeVar("Out")


class OutputKind(StrEnum):
    LABEL = "label"
    """One of a fixed set of strings (an Enum or a Literal)."""
    EXTRACTION = "extraction"
    """A Pydantic model: fields, nested objects, lists, bounded numbers, dates."""
    GENERATION = "generation"
    """Free text, bounded in length."""
    VALUE = "value"
    """Anything else Pydantic can validate (a number, a list)."""


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _kind_of(tp: Any) -> OutputKind:
    base = _strip_annotated(tp)
    if isinstance(base, type) and issubclass(base, BaseModel):
        return OutputKind.EXTRACTION
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return OutputKind.LABEL
    if typing.get_origin(base) is typing.Literal:
        return OutputKind.LABEL
    if base is str:
        return OutputKind.GENERATION
    return OutputKind.VALUE


_WRAP_KEY = {
    OutputKind.LABEL: "label",
    OutputKind.GENERATION: "text",
    OutputKind.VALUE: "value",
}


def format_validation_errors(
    error: ValidationError, *, prefix: tuple[str | int, ...] = ()
) -> list[str]:
    """One line per error: ``field.path: message (got value)``."""
    lines = []
    for item in error.errors(include_url=False):
        loc = [str(p) for p in item["loc"][len(prefix) :]]
        where = ".".join(loc) or "output"
        got = item.get("input")
        shown = json.dumps(got, default=str)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"{where}: {item['msg']} (got {shown})")
    return lines


@dataclass(frozen=True)
class OutputSchema(Generic[Out]):
    """The output type of a task, with its wire schema and validator.

    Non-object outputs travel wrapped in an object (``{"label": ...}``, ``{"text": ...}``),
    because several servers only constrain objects; :meth:`validate` accepts both the wrapped
    and the bare value.
    """

    type: Any
    kind: OutputKind
    adapter: TypeAdapter[Out]
    value_schema: dict[str, Any]
    wire_schema: dict[str, Any]
    wrap_key: str | None

    @classmethod
    def of(cls, output_type: Any) -> OutputSchema[Any]:
        adapter: TypeAdapter[Any] = TypeAdapter(output_type)
        kind = _kind_of(output_type)
        value_schema = adapter.json_schema()
        wrap_key = _WRAP_KEY.get(kind)
        if wrap_key is None:
            wire = value_schema
        else:
            defs = value_schema.pop("$defs", None)
            wire = {
                "type": "object",
                "properties": {wrap_key: value_schema},
                "required": [wrap_key],
                "additionalProperties": False,
            }
            if defs:
                wire["$defs"] = defs
        return cls(
            type=output_type,
            kind=kind,
            adapter=adapter,
            value_schema=value_schema,
            wire_schema=wire,
            wrap_key=wrap_key,
        )

    @property
    def labels(self) -> list[str]:
        """The allowed values of a label output (empty for other kinds)."""
        if self.kind is not OutputKind.LABEL:
            return []
        base = _strip_annotated(self.type)
        if isinstance(base, type) and issubclass(base, enum.Enum):
            return [str(member.value) for member in base]
        return [str(arg) for arg in typing.get_args(base)]

    def unwrap(self, data: Any) -> Any:
        """The bare value from the wire form, if it is wrapped."""
        if self.wrap_key is not None and isinstance(data, dict) and set(data) == {self.wrap_key}:
            return data[self.wrap_key]
        return data

    def validate(self, data: Any) -> Out:
        """The validated output, or a ``ValidationError``."""
        return self.adapter.validate_python(self.unwrap(data))

    def dump(self, value: Out) -> Any:
        """The JSON-ready form of a validated output, as stored."""
        return self.adapter.dump_python(value, mode="json")
