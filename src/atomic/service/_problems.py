"""Errors as RFC 9457 problem documents (``application/problem+json``) with the right status.

Every error the service answers with is one of these: an :class:`AtomicError` keeps its stable
``code``, ``hint`` and ``context``; FastAPI's own validation and routing errors get codes of
their own (``request.invalid``, ``request.malformed_json``, ``http.not_found``, ...). Bad input
is always a 4xx; a 500 means a bug in Atomic, never in the request.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from atomic.errors import (
    AtomicError,
    ConstraintError,
    FeedbackConflictError,
    FeedbackError,
    InputValidationError,
    ModelError,
    NoEligibleModelError,
    NotFoundError,
    OutputValidationError,
    RateLimitError,
    StorageError,
    TimeoutError,
)

__all__ = [
    "PROBLEM_JSON",
    "Problem",
    "ServiceError",
    "install_problem_handlers",
    "problem",
    "problem_responses",
]

log = logging.getLogger("atomic.service")

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem document, extended with Atomic's error fields."""

    type: str = Field(description="`urn:atomic:error:<code>`: one URI per stable code.")
    title: str = Field(description="The HTTP status phrase.")
    status: int
    detail: str = Field(description="What happened, for this request.")
    instance: str | None = Field(default=None, description="The request's path.")
    code: str = Field(description="Atomic's stable error code, safe to match on.")
    hint: str | None = Field(default=None, description="What to do about it.")
    retryable: bool = False
    context: dict[str, Any] = Field(default_factory=dict, description="The input that caused it.")
    errors: list[Any] | None = Field(default=None, description="Each invalid field, and why.")
    error: dict[str, Any] | None = Field(
        default=None,
        description="On /v1/chat/completions: the same error in OpenAI's shape "
        "(`message`, `type`, `code`), which OpenAI's clients read.",
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route for ``statuses``: each a problem document."""
    schema = {"model": Problem, "content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}}}
    return {status: schema for status in statuses}


class ServiceError(AtomicError):
    """An error of the service itself (authentication, quotas, idempotency), with its status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        context: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, hint=hint, context=context)
        self.status = status
        self.service_code = code
        self.retry_after = retry_after
        self.headers = dict(headers or {})

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "code": self.service_code}


# Most specific first: the first class an error is an instance of decides its status.
_STATUS: Sequence[tuple[type[AtomicError], int]] = (
    (InputValidationError, 422),
    (NotFoundError, 404),
    (FeedbackConflictError, 409),
    (FeedbackError, 422),
    (ConstraintError, 422),
    (NoEligibleModelError, 409),
    (RateLimitError, 429),
    (TimeoutError, 504),
    (OutputValidationError, 502),
    (ModelError, 502),
    (StorageError, 503),
)


def status_of(error: AtomicError) -> int:
    if isinstance(error, ServiceError):
        return error.status
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value, fallback=repr, serialize_unknown=True)


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    hint: str | None = None,
    retryable: bool = False,
    context: Mapping[str, Any] | None = None,
    errors: list[Any] | None = None,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem document response; ``retry_after`` (seconds) also sets ``Retry-After``."""
    document = Problem(
        type=f"urn:atomic:error:{code}",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        code=code,
        hint=hint,
        retryable=retryable,
        context=_jsonable(dict(context or {})),
        errors=_jsonable(errors) if errors is not None else None,
    )
    if instance is not None and instance.endswith("/chat/completions"):
        document.error = {"message": detail, "type": code.split(".")[0], "code": code}
    all_headers = dict(headers or {})
    if retry_after is not None:
        all_headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return JSONResponse(
        document.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=all_headers,
    )


def error_response(error: AtomicError, instance: str | None = None) -> JSONResponse:
    """The problem document for an Atomic error."""
    status = status_of(error)
    retry_after: float | None = None
    headers: dict[str, str] = {}
    code = error.code
    if isinstance(error, ServiceError):
        retry_after, headers, code = error.retry_after, error.headers, error.service_code
    elif isinstance(error, RateLimitError):
        retry_after = error.retry_after if error.retry_after is not None else 1.0
    errors = getattr(error, "errors", None)
    return problem(
        status,
        code,
        error.message,
        instance=instance,
        hint=error.hint,
        retryable=error.is_retryable or status in (429, 503),
        context=error.context,
        errors=list(errors) if errors else None,
        retry_after=retry_after,
        headers=headers,
    )


async def _atomic_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AtomicError)
    return error_response(exc, request.url.path)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return problem(
            400,
            "request.malformed_json",
            "the request body is not valid JSON",
            instance=request.url.path,
            hint="send a JSON body with Content-Type: application/json",
            errors=errors,
        )
    listed = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    return problem(
        422,
        "request.invalid",
        f"the request does not match the API's schema: {listed}",
        instance=request.url.path,
        hint="see the OpenAPI spec at /openapi.json for each field's type",
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    name = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    hint = "see the OpenAPI spec at /openapi.json" if status in (404, 405) else None
    return problem(
        status,
        f"http.{name}",
        str(exc.detail),
        instance=request.url.path,
        hint=hint,
        headers=exc.headers,
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error serving %s %s", request.method, request.url.path)
    return problem(
        500,
        "internal",
        f"Atomic failed unexpectedly: {type(exc).__name__}",
        instance=request.url.path,
        hint="this is a bug in Atomic; the server's log has the traceback",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AtomicError, _atomic_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
