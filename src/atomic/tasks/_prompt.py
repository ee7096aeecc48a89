"""Rendering a task call into chat messages, and a failed output into a re-ask."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from atomic.models import Message, OutputStrategy
from atomic.structured import OutputKind, OutputSchema
from atomic.structured._bounded import text_bounds
from atomic.tasks._task import Example, Task

__all__ = ["render_messages", "render_reask", "wire_output"]


def _input_text(task_input: BaseModel) -> str:
    return task_input.model_dump_json(indent=None, exclude_none=True)


def wire_output(schema: OutputSchema[Any], value: Any) -> str:
    """An output as the model is asked to write it (wrapped when the schema wraps)."""
    data = schema.dump(value)
    if schema.wrap_key is not None:
        data = {schema.wrap_key: data}
    return json.dumps(data, ensure_ascii=False)


def _format_section(schema: OutputSchema[Any], strategy: OutputStrategy) -> str:
    if schema.kind is OutputKind.LABEL:
        labels = ", ".join(schema.labels)
        return (
            f'Answer with a JSON object {{"label": <one of the labels>}}. The labels are: {labels}.'
        )
    if strategy is OutputStrategy.PROMPT or schema.kind is OutputKind.EXTRACTION:
        schema_text = json.dumps(schema.wire_schema, separators=(",", ":"))
        return (
            "Answer with one JSON object that matches this JSON Schema, and nothing else. "
            f"Leave out fields the input does not state.\n{schema_text}"
        )
    return 'Answer with a JSON object {"text": <your answer>}.' + _bound_sentence(schema)


def _bound_sentence(schema: OutputSchema[Any]) -> str:
    """The length bound of a text answer, said so the model plans a whole answer within it."""
    low, high = text_bounds(schema)
    if high is None and low is None:
        return ""
    if high is None:
        return f" The answer must be at least {low} characters long."
    span = f"between {low} and {high}" if low else f"at most {high}"
    return (
        f" The answer must be {span} characters long: write complete sentences that fit, "
        "not a longer text that gets cut off."
    )


def render_messages(
    task: Task[Any, Any],
    task_input: BaseModel,
    strategy: OutputStrategy,
    examples: Sequence[Example[Any, Any]] | None = None,
) -> list[Message]:
    """The messages for one call: instructions and format, demonstrations, then the input."""
    system = f"{task.instructions.strip()}\n\n{_format_section(task.schema, strategy)}"
    messages = [Message(role="system", content=system)]
    for example in task.examples if examples is None else examples:
        messages.append(Message(role="user", content=_input_text(example.input)))
        messages.append(Message(role="assistant", content=wire_output(task.schema, example.output)))
    messages.append(Message(role="user", content=_input_text(task_input)))
    return messages


def render_reask(raw_output: str, errors: Sequence[str]) -> list[Message]:
    """The two messages that show a model its invalid output and why it is invalid."""
    listed = "\n".join(f"- {e}" for e in errors)
    return [
        Message(role="assistant", content=raw_output),
        Message(
            role="user",
            content=(
                "That answer is invalid:\n"
                f"{listed}\n"
                "Answer again with a corrected JSON object only."
            ),
        ),
    ]
