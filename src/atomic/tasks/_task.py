"""A task: a named, versioned, typed function that models compete to compute."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from atomic.errors import InputValidationError
from atomic.models import Residency
from atomic.structured import OutputKind, OutputSchema, format_validation_errors

__all__ = ["Check", "CheckResult", "Example", "Sensitivity", "Task", "check"]

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out")

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class Sensitivity(StrEnum):
    """How sensitive a task's data is, and so which residencies may see it."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"

    def allows(self, residency: Residency) -> bool:
        """Whether data of this sensitivity may be sent to a model of ``residency``."""
        if self is Sensitivity.CONFIDENTIAL:
            return residency in (Residency.LOCAL, Residency.ON_PREM)
        return True


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    reason: str | None = None


@dataclass(frozen=True)
class Check(Generic[In, Out]):
    """A deterministic validator on a parsed output (and the input it answers).

    ``fn(input, output)`` returns ``True``/``None`` to pass, ``False`` to fail with the check's
    description, or a string: the reason it failed.
    """

    name: str
    fn: Callable[[In, Out], bool | str | None]
    description: str = ""

    def __call__(self, task_input: In, output: Out) -> CheckResult:
        try:
            verdict = self.fn(task_input, output)
        except Exception as exc:  # a check that crashes has failed, and says why
            return CheckResult(self.name, False, f"check raised {type(exc).__name__}: {exc}")
        if verdict is None or verdict is True:
            return CheckResult(self.name, True)
        if verdict is False:
            return CheckResult(self.name, False, self.description or f"{self.name} failed")
        return CheckResult(self.name, False, str(verdict))


def check(fn: Callable[[Any, Any], bool | str | None]) -> Check[Any, Any]:
    """Make a :class:`Check` from a function; its docstring is the failure reason.

    >>> @check
    ... def total_is_positive(email, facts):
    ...     "the total must be positive"
    ...     return facts.total > 0
    """
    return Check(fn.__name__, fn, inspect.getdoc(fn) or "")


@dataclass(frozen=True)
class Example(Generic[In, Out]):
    """A worked example: an input and its correct output, shown to models as a demonstration."""

    input: In
    output: Out


@dataclass(frozen=True, eq=False)
class Task(Generic[In, Out]):
    """A typed microtask.

    >>> from typing import Literal
    >>> from pydantic import BaseModel
    >>> class Review(BaseModel):
    ...     text: str
    >>> sentiment = Task(
    ...     "review-sentiment",
    ...     input=Review,
    ...     output=Literal["positive", "negative", "neutral"],
    ...     instructions="Classify the sentiment of the product review.",
    ... )
    >>> sentiment.kind
    <OutputKind.LABEL: 'label'>
    """

    name: str
    input: type[In]
    output: Any
    instructions: str
    version: str = "1"
    examples: Sequence[Example[In, Out]] = ()
    checks: Sequence[Check[In, Out]] = ()
    value_usd: float = 0.01
    """What one correct answer is worth to the caller, in USD."""
    sensitivity: Sensitivity = Sensitivity.INTERNAL
    max_output_tokens: int = 256
    authoritative_checks: bool = False
    """The checks decide correctness: an output that passes them counts as correct. Leave
    off when an output can pass them and still be wrong (a plausible label, say): then only
    feedback and ground truth count."""
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"task name {self.name!r} must be lower-case letters, digits, '-', '_' or '.'"
            )
        if not (isinstance(self.input, type) and issubclass(self.input, BaseModel)):
            raise TypeError(f"task {self.name!r}: input must be a Pydantic model class")
        OutputSchema.of(self.output)  # fail now, not at the first call, on an unusable type

    @cached_property
    def schema(self) -> OutputSchema[Out]:
        return OutputSchema.of(self.output)

    @property
    def kind(self) -> OutputKind:
        return self.schema.kind

    def parse_input(self, data: In | Mapping[str, Any] | str) -> In:
        """The task's input from an instance, a mapping or JSON text; else a clear error."""
        if isinstance(data, self.input):
            return data
        try:
            if isinstance(data, str):
                return self.input.model_validate_json(data)
            return self.input.model_validate(data)
        except ValidationError as exc:
            errors = format_validation_errors(exc)
            fields = ", ".join(self.input.model_fields)
            raise InputValidationError(
                f"input does not match task {self.name!r} ({self.input.__name__}): "
                + "; ".join(errors),
                errors=errors,
                hint=f"give a JSON object with the fields: {fields}",
                context={"task": self.name, "errors": errors},
            ) from exc

    def run_checks(self, task_input: In, output: Out) -> list[CheckResult]:
        return [c(task_input, output) for c in self.checks]
