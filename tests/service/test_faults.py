"""An OpenAI-compatible upstream on loopback that injects faults into 30% of its answers
(timeouts, 5xx, 429 with Retry-After, truncated and invalid JSON, a body cut mid-way): every
request to Atomic either succeeds through the cascade or fails with a typed problem document,
within its deadline."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from atomic.models import OpenAICompatModel
from atomic.service import create_app
from tests.fixtures.threaded import uvicorn_in_thread
from tests.service.conftest import serve_in_thread, settings_for

FAULT_RATE = 0.3
FAULTS = ["slow", "server_error", "rate_limited", "truncated", "invalid", "cut"]
REQUESTS = 120
DEADLINE_S = 6.0
TIMEOUT_S = 1.0


class FaultyUpstream:
    """A chat completions endpoint; ``FAULT_RATE`` of its answers are one of ``FAULTS``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.served: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body", False):
            pass
        fault = self.rng.choice(FAULTS) if self.rng.random() < FAULT_RATE else "ok"
        self.served[fault] += 1
        completion = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "up",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": '{"text": "all good"}'},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        body = json.dumps(completion).encode()
        status, headers = 200, [(b"content-type", b"application/json")]
        if fault == "slow":
            await asyncio.sleep(TIMEOUT_S * 3)
        elif fault == "server_error":
            status, body = 503, b'{"error": {"message": "overloaded"}}'
        elif fault == "rate_limited":
            status, body = 429, b'{"error": {"message": "slow down"}}'
            headers.append((b"retry-after", b"1"))
        elif fault == "truncated":
            body = body[: len(body) // 2]
        elif fault == "invalid":
            # Parses, but is no valid reply (the chat task's reply is at least one character).
            completion["choices"][0]["message"]["content"] = '{"text": ""}'  # type: ignore[index]
            body = json.dumps(completion).encode()
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if fault == "cut":
            await send({"type": "http.response.body", "body": body[:20], "more_body": True})
            return  # the connection closes with the body half sent
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, FaultyUpstream]]:
    app = FaultyUpstream(seed=3)
    with uvicorn_in_thread(app, "the faulty upstream", log_level="critical", graceful_s=1) as root:
        yield f"{root}/v1", app


def test_every_request_succeeds_or_fails_typed_within_its_deadline(
    upstream: tuple[str, FaultyUpstream], tmp_path: Path
) -> None:
    base_url, faulty = upstream
    models = [
        OpenAICompatModel(base_url=base_url, model=name, api_key="k", timeout=TIMEOUT_S)
        for name in ("up-a", "up-b", "up-c")
    ]
    app = create_app(settings_for(tmp_path, max_attempts=2), models=models)
    outcomes: list[tuple[int, str, float]] = []

    async def load(url: str) -> None:
        gate = asyncio.Semaphore(8)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:

            async def one(i: int) -> None:
                async with gate:
                    start = time.monotonic()
                    response = await client.post(
                        "/v1/tasks/chat/runs",
                        json={
                            "input": {"messages": [{"role": "user", "content": f"hi {i}"}]},
                            "deadline_s": DEADLINE_S,
                        },
                    )
                    elapsed = time.monotonic() - start
                if response.status_code == 200:
                    assert response.json()["output"] == "all good"
                    outcomes.append((200, "ok", elapsed))
                    return
                assert response.headers["content-type"] == "application/problem+json"
                problem = response.json()
                assert problem["status"] == response.status_code
                outcomes.append((response.status_code, problem["code"], elapsed))

            await asyncio.gather(*(one(i) for i in range(REQUESTS)))

    with serve_in_thread(app) as url:
        asyncio.run(load(url))
    statuses = Counter(status for status, _, _ in outcomes)
    codes = Counter(code for _, code, _ in outcomes)
    assert len(outcomes) == REQUESTS
    assert sum(faulty.served[f] for f in FAULTS) > 0.2 * sum(faulty.served.values())
    assert statuses[200] > REQUESTS * 0.7, codes
    assert set(statuses) <= {200, 409, 429, 502, 504}, codes
    assert 500 not in statuses
    # The cascade stops at the deadline; the model running then may take its own timeout
    # (re-asks included) to give up.
    slowest = max(elapsed for _, _, elapsed in outcomes)
    assert slowest < DEADLINE_S + 2 * TIMEOUT_S * 2 + 2, slowest
