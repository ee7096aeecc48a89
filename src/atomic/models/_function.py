"""Plain Python as a model: rules, regexes, lookups, and the fakes users test with."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import BaseModel

from atomic.errors import AtomicError
from atomic.models._base import Model, ModelRequest, ModelResponse
from atomic.models._card import ModelCard, OutputStrategy, Price, Residency

__all__ = ["FunctionModel", "ScriptedModel", "function_card"]

ALL_STRATEGIES = frozenset(OutputStrategy)


def function_card(model_id: str, *, price: Price | None = None, **fields: Any) -> ModelCard:
    """A card for in-process code: local, instant, free unless priced, any output strategy."""
    defaults: dict[str, Any] = {
        "context_window": 1_000_000,
        "residency": Residency.LOCAL,
        "strategies": ALL_STRATEGIES,
        "latency_prior_ms": 1.0,
    }
    return ModelCard(id=model_id, price=price or Price(), **{**defaults, **fields})


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=str)


FunctionResult = str | BaseModel | Any


class FunctionModel(Model):
    """A model backed by a Python callable (sync or async) that receives the ``ModelRequest``.

    The callable returns text, a Pydantic object or JSON-ready data; Atomic validates it like
    any model's output.

    >>> import asyncio
    >>> from atomic.models import ModelRequest, Message
    >>> shout = FunctionModel(lambda req: req.messages[-1].content.upper(), id="function:shout")
    >>> asyncio.run(shout.invoke(ModelRequest(messages=(Message(role="user", content="hi"),)))).text
    'HI'
    """

    def __init__(
        self,
        fn: Callable[[ModelRequest], FunctionResult | Awaitable[FunctionResult]],
        *,
        id: str | None = None,
        card: ModelCard | None = None,
    ) -> None:
        self._fn = fn
        name = getattr(fn, "__name__", "function").replace("<lambda>", "lambda")
        self.card = card or function_card(id or f"function:{name}")

    async def invoke(self, request: ModelRequest) -> ModelResponse:
        start = time.perf_counter()
        value = self._fn(request)
        if inspect.isawaitable(value):
            value = await value
        text = _as_text(value)
        return ModelResponse(
            model_id=self.id,
            text=text,
            cost_usd=self.card.price.per_call,
            latency_ms=(time.perf_counter() - start) * 1000,
            finish_reason="stop",
            strategy=request.output.strategy if request.output else OutputStrategy.PROMPT,
        )


class ScriptedModel(Model):
    """Answers from a script, in order; an exception in the script is raised instead.

    Every request is kept in ``requests`` so a test can check the prompt it was sent.
    Running past the end of the script raises an ``AtomicError`` saying so.
    """

    def __init__(
        self,
        script: Iterable[FunctionResult | BaseException],
        *,
        id: str = "scripted:model",
        card: ModelCard | None = None,
    ) -> None:
        self._script = list(script)
        self.requests: list[ModelRequest] = []
        self.card = card or function_card(id)

    async def invoke(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        index = len(self.requests) - 1
        if index >= len(self._script):
            raise AtomicError(
                f"scripted model {self.id} got call {index + 1} but its script has "
                f"{len(self._script)} answers",
                hint="add answers to the script, or check why the code made more calls",
                context={"model_id": self.id, "calls": index + 1},
            )
        item = self._script[index]
        if isinstance(item, BaseException):
            raise item
        text = _as_text(item)
        return ModelResponse(
            model_id=self.id,
            text=text,
            cost_usd=self.card.price.per_call,
            finish_reason="stop",
            strategy=request.output.strategy if request.output else OutputStrategy.PROMPT,
        )
