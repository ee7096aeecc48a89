"""Fixtures of the egress-ledger tests: a loopback OpenAI-compatible peer that keeps the exact
bytes of every request it receives, and asks the ledger whether each was recorded first."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from atomic import AtomicSettings, Task
from atomic.models import ModelCard, OutputStrategy, Price, Residency
from atomic.models._openai import OpenAICompatModel
from tests.fixtures.threaded import uvicorn_in_thread


class Ticket(BaseModel):
    text: str
    customer: str


route = Task(
    "route",
    input=Ticket,
    output=Literal["billing", "cards"],
    instructions="Route the ticket.",
)


@dataclass
class Received:
    body: bytes
    recorded_before: bool | None
    """Whether the ledger held an entry with this body's SHA-256 when the request arrived."""


@dataclass
class CapturingPeer:
    """An OpenAI-compatible server on loopback that answers every chat completion with
    ``{"label": "cards"}`` and keeps each request's body exactly as it arrived."""

    base_url: str
    received: list[Received] = field(default_factory=list)
    ledger_has: Callable[[bytes], bool] | None = None

    def reset(self, ledger_has: Callable[[bytes], bool] | None = None) -> None:
        self.received.clear()
        self.ledger_has = ledger_has

    def model(
        self, residency: Residency = Residency.CLOUD, name: str = "peer"
    ) -> OpenAICompatModel:
        card = ModelCard(
            id=f"peer:{name}-{residency.value}",
            price=Price(per_call=0.001),
            context_window=8192,
            residency=residency,
            region="eu-west-1" if residency is not Residency.LOCAL else None,
            strategies=frozenset({OutputStrategy.PROMPT}),
        )
        return OpenAICompatModel(base_url=self.base_url, model=name, card=card)


def _completion() -> dict[str, object]:
    return {
        "id": "chatcmpl-capture",
        "object": "chat.completion",
        "created": 0,
        "model": "peer",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": json.dumps({"label": "cards"})},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    }


@pytest.fixture(scope="session")
def capturing_peer() -> Iterator[CapturingPeer]:
    peer: CapturingPeer

    async def chat(request: Request) -> Response:
        body = await request.body()
        check = peer.ledger_has
        peer.received.append(Received(body, check(body) if check else None))
        return JSONResponse(_completion())

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    with uvicorn_in_thread(app, "the capturing peer", graceful_s=None) as root:
        peer = CapturingPeer(base_url=f"{root}/v1")
        yield peer


def sync_url(store_url: str) -> str:
    """The same database, for a synchronous engine (the peer's thread has no event loop)."""
    return store_url.replace("sqlite+aiosqlite://", "sqlite://")


def settings_for(tmp_path: Path, store_url: str, **overrides: object) -> AtomicSettings:
    return AtomicSettings(
        home=tmp_path, database_url=store_url, local_models=[], learned_models=False,
        max_attempts=1, builtin_tasks=False, **overrides,  # type: ignore[arg-type]
    )  # fmt: skip
