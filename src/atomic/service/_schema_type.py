"""A ``response_format`` JSON Schema as a Pydantic type, so it can be a call's output type.

Covers what OpenAI's structured outputs allow in practice: objects with properties and
``required``, strings (with ``enum``), numbers, integers, booleans, arrays, ``null`` in a type
list or ``anyOf``, and ``$ref`` into ``$defs``. Anything else is a ``ConstraintError`` (422)
naming the part it cannot read, never a silently looser type.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

from atomic.errors import ConstraintError

__all__ = ["JsonObject", "type_from_schema"]

_MAX_DEPTH = 16


class JsonObject(BaseModel):
    """Any JSON object (``response_format: {"type": "json_object"}``)."""

    model_config = ConfigDict(extra="allow")


def _unsupported(path: str, what: str) -> ConstraintError:
    return ConstraintError(
        f"response_format json_schema: {what} at {path or '/'} is not supported",
        hint="use objects, strings (enum), numbers, integers, booleans, arrays, null and $defs",
        context={"path": path or "/"},
    )


class _Builder:
    def __init__(self, root: dict[str, Any]) -> None:
        self.defs: dict[str, Any] = {**root.get("$defs", {}), **root.get("definitions", {})}
        self.models: dict[str, Any] = {}

    def build(self, schema: Any, path: str, name: str, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise _unsupported(path, f"nesting deeper than {_MAX_DEPTH}")
        if not isinstance(schema, dict):
            raise _unsupported(path, "a schema that is not an object")
        if "$ref" in schema:
            return self._ref(schema["$ref"], path, depth)
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not values:
                raise _unsupported(path, "an empty enum")
            return Literal[tuple(values)]
        if "const" in schema:
            return Literal[schema["const"]]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [
                    self.build(s, f"{path}/{key}/{i}", f"{name}{i}", depth + 1)
                    for i, s in enumerate(schema[key])
                ]
                if not options:
                    raise _unsupported(path, f"an empty {key}")
                union = options[0]
                for option in options[1:]:
                    union = union | option
                return union
        kind = schema.get("type")
        if isinstance(kind, list):
            non_null = [k for k in kind if k != "null"]
            if len(non_null) != 1:
                raise _unsupported(path, f"the type list {kind}")
            inner = self.build({**schema, "type": non_null[0]}, path, name, depth)
            return Optional[inner] if "null" in kind else inner  # noqa: UP045 - runtime type
        return self._typed(kind, schema, path, name, depth)

    def _ref(self, ref: Any, path: str, depth: int) -> Any:
        match = re.fullmatch(r"#/(?:\$defs|definitions)/([^/]+)", str(ref))
        if match is None or match.group(1) not in self.defs:
            raise _unsupported(path, f"the reference {ref!r}")
        target = match.group(1)
        if target not in self.models:
            self.models[target] = self.build(
                self.defs[target], f"{path}->{target}", target, depth + 1
            )
        return self.models[target]

    def _typed(self, kind: Any, schema: dict[str, Any], path: str, name: str, depth: int) -> Any:
        simple = {
            "string": str,
            "integer": int,
            "number": float,
            "boolean": bool,
            "null": type(None),
        }
        if kind in simple:
            return simple[kind]
        if kind == "array":
            items = schema.get("items", {})
            return list[self.build(items, f"{path}/items", f"{name}Item", depth + 1)]  # type: ignore[misc]
        if kind == "object" or (kind is None and "properties" in schema):
            return self._object(schema, path, name, depth)
        raise _unsupported(path, f"the type {kind!r}")

    def _object(self, schema: dict[str, Any], path: str, name: str, depth: int) -> Any:
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise _unsupported(path, "properties that are not an object")
        required = set(schema.get("required", []))
        fields: dict[str, Any] = {}
        for index, (prop, sub) in enumerate(properties.items()):
            field_type = self.build(sub, f"{path}/properties/{prop}", f"{name}_{index}", depth + 1)
            description = sub.get("description") if isinstance(sub, dict) else None
            if prop in required:
                fields[prop] = (field_type, Field(..., alias=prop, description=description))
            else:
                fields[prop] = (
                    Optional[field_type],  # noqa: UP045 - runtime type
                    Field(default=None, alias=prop, description=description),
                )
        extra: Literal["forbid", "allow"] = (
            "forbid" if schema.get("additionalProperties") is False else "allow"
        )
        safe = {f"f{i}": spec for i, spec in enumerate(fields.values())}
        model_name = re.sub(r"\W", "_", name) or "Output"
        return create_model(
            model_name,
            __config__=ConfigDict(extra=extra, serialize_by_alias=True, validate_by_alias=True),
            **safe,
        )


def type_from_schema(schema: dict[str, Any], name: str) -> Any:
    """The Pydantic model for an object schema (the only top level OpenAI allows)."""
    if schema.get("type", "object") != "object" and "properties" not in schema:
        raise _unsupported("", "a top-level schema that is not an object")
    return _Builder(schema).build(schema, "", name)
