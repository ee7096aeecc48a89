"""Reading what an OpenAI-compatible server answers, apart from the transport that carried it.

Error bodies in each server's dialect, ``Retry-After``, chat-completion bodies, and the
:mod:`atomic.errors` class each failure maps to (the adapter raises the last three itself):

```
answer                                                    error
429                                                       RateLimitError (with retry_after)
401, 403                                                  AuthenticationError
400/413/422 saying the context length was exceeded        ContextWindowExceededError
404, or a 4xx saying the model does not exist             ModelUnavailableError
408                                                       TimeoutError
any other 4xx (or a 500 that is a request validation)     InvalidRequestError
5xx                                                       ServerError
200 whose body is not a chat completion                   ServerError
httpx timeout                                             TimeoutError
any other transport failure (refused, reset, DNS)         TransportError
```
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from atomic.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    InvalidRequestError,
    ModelError,
    ModelUnavailableError,
    RateLimitError,
    ServerError,
    TimeoutError,
)
from atomic.models._card import Usage

__all__ = [
    "APIErrorBody",
    "Completion",
    "error_for_response",
    "parse_completion",
    "parse_error_body",
    "parse_retry_after",
    "rejects_json_schema_type",
]

_MAX_MESSAGE = 500

_CONTEXT_CODES = frozenset(
    {"context_length_exceeded", "context_window_exceeded", "exceed_context_size_error"}
)
_CONTEXT_TEXT = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|too many tokens|prompt is too long",
    re.IGNORECASE,
)
_MODEL_CODES = frozenset({"model_not_found"})
_MODEL_MISSING_TEXT = re.compile(
    r"\bmodel\b[^.]{0,200}?\b(not found|does not exist|doesn't exist|is not served|not available)"
    r"|\b(unknown|no such) model\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class APIErrorBody:
    """What an error answer said, whatever the server's dialect."""

    status: int
    message: str
    code: str | None = None
    type: str | None = None
    param: str | None = None
    retry_after: float | None = None


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    >>> parse_retry_after({"Retry-After": "7"})
    7.0
    >>> parse_retry_after({"retry-after-ms": "1500"})
    1.5
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    if (millis := _number(lowered.get("retry-after-ms"))) is not None:
        return millis / 1000
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    if (seconds := _number(raw)) is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a zone-less one is taken to be so
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 and value == value else None  # value == value: not NaN


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _detail_text(detail: Any) -> str | None:
    """FastAPI's ``detail``: a string, or a list of validation errors with their location."""
    if isinstance(detail, str):
        return detail
    if not isinstance(detail, list):
        return None
    lines = []
    for item in detail:
        if not isinstance(item, dict):
            continue
        where = ".".join(str(part) for part in item.get("loc", ()))
        line = f"{where}: {item.get('msg', 'invalid')}"
        if "input" in item:
            line += f" (got {json.dumps(item['input'], default=str)[:80]})"
        lines.append(line)
    return "; ".join(lines) or None


def parse_error_body(
    status: int,
    content: bytes | str,
    headers: Mapping[str, str] | None = None,
    *,
    now: datetime | None = None,
) -> APIErrorBody:
    """Read an error answer in any of the dialects seen in the wild.

    OpenAI and llama.cpp nest ``{"error": {"message", "type", "param", "code"}}``; vLLM puts
    those fields at the top level; Ollama sends ``{"error": "text"}``; FastAPI apps send
    ``{"detail": ...}``; proxies send HTML or plain text.

    >>> parse_error_body(404, '{"error": "model \\'x\\' not found"}').message
    "model 'x' not found"
    """
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    message = code = type_ = param = None
    if isinstance(data, dict):
        inner = data.get("error", data)
        if isinstance(inner, str):
            message = inner
        elif isinstance(inner, dict):
            message = _text(inner.get("message"))
            code, type_, param = (_text(inner.get(k)) for k in ("code", "type", "param"))
        message = message or _detail_text(data.get("detail"))
    message = message or text.strip() or f"an empty body (HTTP {status})"
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return APIErrorBody(
        status=status,
        message=message,
        code=code,
        type=type_,
        param=param,
        retry_after=parse_retry_after(headers or {}, now=now),
    )


def _says_context_exceeded(error: APIErrorBody) -> bool:
    if error.code in _CONTEXT_CODES or error.type in _CONTEXT_CODES:
        return True
    return bool(_CONTEXT_TEXT.search(error.message))


def _says_model_missing(error: APIErrorBody) -> bool:
    return error.code in _MODEL_CODES or bool(_MODEL_MISSING_TEXT.search(error.message))


def _says_request_body_invalid(error: APIErrorBody) -> bool:
    # llama-cpp-python's server wraps FastAPI's validation of the request body in a 500
    # ("1 validation error: {... 'loc': ('body', ...) ...}"); no retry can fix that request.
    return "validation error" in error.message and "'loc': ('body'" in error.message


def rejects_json_schema_type(error: APIErrorBody) -> bool:
    """Whether the server refused ``response_format.type == "json_schema"`` as a type.

    Such servers accept only ``json_object`` (llama-cpp-python's answers 500 with the
    validation error, FastAPI apps 422); both names appear in what they say.
    """
    if error.status not in (400, 422, 500):
        return False
    said = f"{error.param or ''} {error.message}".lower()
    return "response_format" in said and "json_schema" in said and "json_object" in said


def error_for_response(
    error: APIErrorBody, *, model_id: str, model: str, base_url: str
) -> ModelError:
    """The Atomic error for an HTTP error answer from ``base_url`` to a call to ``model``."""
    status = error.status
    message = f"{model_id} at {base_url} answered HTTP {status}: {error.message}"
    context: dict[str, Any] = {"base_url": base_url, "model": model}
    context.update({k: v for k, v in (("code", error.code), ("type", error.type)) if v})
    if error.param:
        context["param"] = error.param
    common: dict[str, Any] = {"model_id": model_id, "status": status, "context": context}

    if status == 429:
        if error.code == "insufficient_quota":
            hint = "the account's quota is used up: add credit, or let another model serve"
        elif error.retry_after is not None:
            hint = f"the server asks to wait {error.retry_after:g}s; lower the request rate"
        else:
            hint = "wait and retry with backoff, or lower the request rate"
        return RateLimitError(message, retry_after=error.retry_after, hint=hint, **common)
    if status in (401, 403):
        return AuthenticationError(
            message,
            hint=f"check the API key for {base_url}: set ATOMIC_OPENAI_API_KEY (or "
            "OPENAI_API_KEY), or pass api_key=, and that it may use this model",
            **common,
        )
    if status in (400, 413, 422) and _says_context_exceeded(error):
        return ContextWindowExceededError(
            message,
            hint="shorten the input or lower max_tokens, and set the model card's context_window "
            "to the server's real limit so the exchange skips this model for inputs this long",
            **common,
        )
    if status == 404 or (400 <= status < 500 and _says_model_missing(error)):
        return ModelUnavailableError(
            message,
            hint=f"check that the server serves {model!r} (`list_models()` reads "
            f"GET {base_url}/models) and that base_url is the API root, e.g. ending in /v1",
            **common,
        )
    if status == 408:
        return TimeoutError(
            message, hint="the server gave up waiting; retry, or send a smaller request", **common
        )
    if 400 <= status < 500 or (status == 500 and _says_request_body_invalid(error)):
        target = f" (parameter {error.param!r})" if error.param else ""
        return InvalidRequestError(
            message,
            hint=f"the server rejected the request as sent{target}; check the model's options "
            "and that the server supports them",
            **common,
        )
    if error.retry_after is not None:
        context["retry_after"] = error.retry_after
    return ServerError(
        message,
        hint="the server failed; a retry (later, or on another model) may work, and its logs "
        "say why",
        **common,
    )


@dataclass(frozen=True)
class Completion:
    """The parts of a chat completion that Atomic keeps."""

    text: str
    finish_reason: str | None
    usage: Usage
    cost_usd: float | None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _content_text(content: Any) -> str | None:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some gateways answer with content parts
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        if all(isinstance(p, str) for p in parts):
            return "".join(parts)  # type: ignore[arg-type]
    return None


def parse_completion(data: Any) -> Completion | None:
    """The text, finish reason, usage and reported cost of a chat completion body.

    ``None`` when ``data`` is not a chat completion at all.
    """
    if not isinstance(data, dict):
        return None
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None
    text = _content_text(message.get("content"))
    if text is None:
        return None
    usage_data = data.get("usage")
    usage_data = usage_data if isinstance(usage_data, dict) else {}
    cost = usage_data.get("cost")
    reported = (
        float(cost)
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0
        else None
    )
    return Completion(
        text=text,
        finish_reason=_text(choices[0].get("finish_reason")),
        usage=Usage(
            input_tokens=_count(usage_data.get("prompt_tokens")),
            output_tokens=_count(usage_data.get("completion_tokens")),
        ),
        cost_usd=reported,
    )
