"""Every error Atomic raises, in one tree.

Each error carries a stable ``code`` (safe to match on, stored with the call that raised it),
``is_retryable`` (whether trying the same thing again can help), a ``context`` dict naming the
input that caused it, and a ``hint`` saying what to do about it.

```
AtomicError
├── ConfigError                      config.invalid, config.missing_secret
├── NotFoundError
│   ├── TaskNotFoundError            task.not_found
│   ├── ModelNotFoundError           model.unknown
│   └── RunNotFoundError             run.not_found
├── InputValidationError             task.input_invalid
├── OutputValidationError            output.invalid
├── ConstraintError                  structured.unsupported_schema
├── NoEligibleModelError             exchange.no_eligible_model
├── StorageError                     storage.error
├── FeedbackError                    feedback.invalid
│   └── FeedbackConflictError        feedback.conflict
├── WorkflowError                    workflow.error
└── ModelError                       model.error
    ├── RateLimitError               model.rate_limited           retryable, retry_after
    ├── AuthenticationError          model.auth
    ├── ContextWindowExceededError   model.context_window_exceeded
    ├── InvalidRequestError          model.invalid_request
    │   └── ModelUnavailableError    model.not_served
    ├── UnsupportedError             model.unsupported
    ├── ServerError                  model.server_error           retryable
    └── TransportError               model.transport              retryable
        └── TimeoutError             model.timeout                retryable
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "AtomicError",
    "AuthenticationError",
    "ConfigError",
    "ConstraintError",
    "ContextWindowExceededError",
    "FeedbackConflictError",
    "FeedbackError",
    "InputValidationError",
    "InvalidRequestError",
    "ModelError",
    "ModelNotFoundError",
    "ModelUnavailableError",
    "NoEligibleModelError",
    "NotFoundError",
    "OutputValidationError",
    "RateLimitError",
    "RunNotFoundError",
    "ServerError",
    "StorageError",
    "TaskNotFoundError",
    "TimeoutError",
    "TransportError",
    "UnsupportedError",
    "WorkflowError",
    "WorkflowNotFoundError",
]


class AtomicError(Exception):
    """Base of every Atomic error: a message, a stable code, the context and a hint."""

    code: ClassVar[str] = "atomic.error"
    is_retryable: ClassVar[bool] = False

    def __init__(
        self, message: str, *, hint: str | None = None, context: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context: dict[str, Any] = dict(context or {})

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n  → {self.hint}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments, which pickle's default cannot replay:
        # rebuild from the instance's fields instead (workflow journals pickle errors).
        return (_rebuild, (type(self), self.__dict__.copy()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, as stored with a failed call and printed by the CLI."""
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "retryable": self.is_retryable,
            "context": self.context,
        }


def _rebuild(cls: type[AtomicError], state: dict[str, Any]) -> AtomicError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class ConfigError(AtomicError):
    """A setting is missing or invalid (a missing secret names its environment variable)."""

    code = "config.invalid"


class NotFoundError(AtomicError):
    code = "not_found"


class TaskNotFoundError(NotFoundError):
    code = "task.not_found"


class ModelNotFoundError(NotFoundError):
    code = "model.unknown"


class RunNotFoundError(NotFoundError):
    code = "run.not_found"


class InputValidationError(AtomicError):
    """The input does not match the task's input model; ``errors`` lists each field and why."""

    code = "task.input_invalid"

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[str],
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, hint=hint, context=context)
        self.errors = list(errors)


class OutputValidationError(AtomicError):
    """No attempt produced an output that validates; carries the last raw text and its errors."""

    code = "output.invalid"

    def __init__(
        self,
        message: str,
        *,
        raw_text: str,
        errors: Sequence[str],
        attempts: int,
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, hint=hint, context=context)
        self.raw_text = raw_text
        self.errors = list(errors)
        self.attempts = attempts


class ConstraintError(AtomicError):
    """An output schema cannot be turned into a decoding constraint by the chosen backend."""

    code = "structured.unsupported_schema"


class NoEligibleModelError(AtomicError):
    """No registered model may serve this call (each exclusion is in ``context['excluded']``)."""

    code = "exchange.no_eligible_model"


class StorageError(AtomicError):
    code = "storage.error"


class FeedbackError(AtomicError):
    """Feedback that cannot be accepted; a rejected correction lists its ``errors``."""

    code = "feedback.invalid"

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[str] = (),
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, hint=hint, context=context)
        self.errors = list(errors)


class FeedbackConflictError(FeedbackError):
    """A feedback id was reused for a different verdict."""

    code = "feedback.conflict"


class WorkflowError(AtomicError):
    """A workflow was defined, started or run wrongly (a step outside a workflow, say)."""

    code = "workflow.error"


class WorkflowNotFoundError(NotFoundError):
    """No workflow run has the id asked for (on this runner, or for this tenant)."""

    code = "workflow.not_found"


class ModelError(AtomicError):
    """A model call failed. ``model_id`` names the model, ``status`` the HTTP status if any."""

    code = "model.error"

    def __init__(
        self,
        message: str,
        *,
        model_id: str,
        status: int | None = None,
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        ctx = {"model_id": model_id, **({"status": status} if status is not None else {})}
        super().__init__(message, hint=hint, context={**ctx, **(context or {})})
        self.model_id = model_id
        self.status = status


class RateLimitError(ModelError):
    code = "model.rate_limited"
    is_retryable = True

    def __init__(
        self,
        message: str,
        *,
        model_id: str,
        retry_after: float | None = None,
        status: int | None = 429,
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, model_id=model_id, status=status, hint=hint, context=context)
        self.retry_after = retry_after
        self.context["retry_after"] = retry_after


class AuthenticationError(ModelError):
    code = "model.auth"


class ContextWindowExceededError(ModelError):
    code = "model.context_window_exceeded"


class InvalidRequestError(ModelError):
    code = "model.invalid_request"


class ModelUnavailableError(InvalidRequestError):
    """The server does not serve the requested model name."""

    code = "model.not_served"


class UnsupportedError(ModelError):
    """The adapter does not support what was asked of it (an output strategy, an option)."""

    code = "model.unsupported"


class ServerError(ModelError):
    code = "model.server_error"
    is_retryable = True


class TransportError(ModelError):
    """The request never got an HTTP answer: connection refused, reset, DNS."""

    code = "model.transport"
    is_retryable = True


class TimeoutError(TransportError):  # the name users expect, namespaced by the module
    code = "model.timeout"
