"""A real Atomic service on loopback: uvicorn in a thread, SQLite in a temp folder, and
function models (fast, deterministic) behind it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from atomic import FunctionModel, Task
from atomic.errors import RateLimitError, ServerError, TimeoutError
from atomic.models import ModelRequest
from atomic.models._card import Price
from atomic.models._function import function_card
from atomic.service import create_app
from atomic.settings import AtomicSettings
from tests.fixtures.threaded import uvicorn_in_thread


class Email(BaseModel):
    text: str


class Facts(BaseModel):
    amount: float | None = None
    merchant: str | None = None


triage = Task(
    "triage",
    input=Email,
    output=Literal["billing", "fraud", "other"],
    instructions="Route the customer's email to a queue.",
)
facts = Task("facts", input=Email, output=Facts, instructions="Extract the payment's facts.")
faulty = Task(
    "faulty",
    input=Email,
    output=Literal["billing", "fraud", "other"],
    instructions="Route the customer's email to a queue (served by failing models in tests).",
)


@dataclass
class Calls:
    """How many times each function model was called (idempotency tests count them)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, model_id: str) -> None:
        self.counts[model_id] = self.counts.get(model_id, 0) + 1

    def total(self) -> int:
        return sum(self.counts.values())


def _label(text: str) -> str:
    lowered = text.lower()
    if "fraud" in lowered or "stolen" in lowered:
        return "fraud"
    if "bill" in lowered or "charge" in lowered:
        return "billing"
    return "other"


def chat_reply(request: ModelRequest) -> object:
    """Chat answers of the function models: an echo, or JSON for a response_format schema."""
    messages = (request.task_input or {})["messages"]
    last = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    assert request.output is not None
    if request.output.name == "chat-json":
        if "wrong" in last:
            return {"city": 12}
        properties = request.output.json_schema.get("properties", {})
        if "city" in properties:
            return {"city": "Paris", "population": 2_100_000}
        return {"echo": last}
    return {"text": f"echo: {last}"}


def models(calls: Calls) -> list[FunctionModel]:
    def rules(request: ModelRequest) -> object:
        calls.add("rules:triage")
        data = request.task_input or {}
        if "messages" in data:
            return chat_reply(request)
        text = str(data.get("text", ""))
        if request.output is not None and request.output.name == "facts":
            return {"amount": 12.5, "merchant": "ACME"} if "ACME" in text else {}
        if request.output is not None and request.output.name == "triage":
            return {"label": _label(text)}
        return {"text": f"echo: {text}"}

    def backup(request: ModelRequest) -> object:
        calls.add("backup:any")
        if "messages" in (request.task_input or {}):
            return chat_reply(request)
        text = str((request.task_input or {}).get("text", ""))
        if request.output is not None and "label" in request.output.json_schema.get(
            "properties", {}
        ):
            return {"label": "other"}
        if request.output is not None and request.output.name == "facts":
            return {}
        return {"text": f"backup: {text}"}

    def flaky(request: ModelRequest) -> object:
        calls.add("flaky:chat")
        if "flaky" in str(request.task_input):
            raise ServerError(
                "the flaky model failed before its first token", model_id="flaky:chat"
            )
        return chat_reply(request)

    def failing(model_id: str, error: Exception) -> FunctionModel:
        def fail(request: ModelRequest) -> object:
            calls.add(model_id)
            raise error

        # Only the `faulty` task's bidders: their breakers open and must not touch the rest.
        card = function_card(model_id, quality_prior=0.99, tasks=frozenset({"faulty"}))
        return FunctionModel(fail, card=card)

    return [
        # The likeliest chat bidder, failing on inputs that say "flaky".
        FunctionModel(
            flaky, card=function_card("flaky:chat", quality_prior=0.999, tasks=frozenset({"chat"}))
        ),
        failing("faults:down", ServerError("down for maintenance", model_id="faults:down")),
        failing("faults:rate", RateLimitError("slow down", model_id="faults:rate", retry_after=7)),
        failing("faults:slow", TimeoutError("no answer in time", model_id="faults:slow")),
        FunctionModel(rules, card=function_card("rules:triage", quality_prior=0.95)),
        FunctionModel(
            backup,
            card=function_card("backup:any", quality_prior=0.5, price=Price(per_call=0.001)),
        ),
    ]


@dataclass(frozen=True)
class Service:
    url: str
    app: FastAPI
    calls: Calls
    home: Path

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """uvicorn serving ``app`` on a free loopback port, in a thread; yields the base URL."""
    with uvicorn_in_thread(
        app, "the Atomic service", lifespan="auto", graceful_s=5, start_s=60, stop_s=30
    ) as url:
        yield url


def settings_for(home: Path, **overrides: object) -> AtomicSettings:
    return AtomicSettings(home=home, learned_models=False, state_refresh_s=0, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service without keys (every request acts as the settings' tenant)."""
    home = tmp_path_factory.mktemp("service")
    calls = Calls()
    app = create_app(
        settings_for(home), models=models(calls), tasks=[triage, facts, faulty], seed=0
    )
    with serve_in_thread(app) as url:
        yield Service(url=url, app=app, calls=calls, home=home)
