"""client → Atomic → upstream: the official ``openai`` client against Atomic, with
llama.cpp's OpenAI-compatible server (SmolLM2, session fixture ``openai_server``) behind it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from atomic.service import create_app
from tests.fixtures.openai_server import OpenAIServer
from tests.service.conftest import serve_in_thread, settings_for

# llama.cpp's server loads SmolLM2, like the other tests of this fixture (tests/models).
pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def upstream_url(
    openai_server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("upstream-service")
    settings = settings_for(
        home,
        local_models=[],
        openai_base_url=openai_server.base_url,
        openai_models=[openai_server.model],
        openai_api_key=openai_server.api_key,
        # SmolLM2 on two shared cores: a loaded machine makes a 64-token answer take minutes.
        request_timeout=300,
    )
    with serve_in_thread(create_app(settings)) as url:
        yield url


def test_the_openai_client_reaches_llama_cpp_through_atomic(upstream_url: str) -> None:
    with openai.OpenAI(
        base_url=f"{upstream_url}/v1", api_key="unused", max_retries=0, timeout=900
    ) as client:
        _hello(client, upstream_url)


def _hello(client: openai.OpenAI, upstream_url: str) -> None:
    models = [m.id for m in client.models.list()]
    completion = client.chat.completions.create(
        model="atomic:auto",
        messages=[{"role": "user", "content": "Say hello in one short sentence."}],
        max_tokens=128,
    )
    assert "openai:smollm2" in models
    assert completion.model == "openai:smollm2"
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    run = httpx.get(f"{upstream_url}/v1/runs/{completion.id}", timeout=10).json()
    assert run["status"] == "succeeded"
    assert run["attempts"][-1]["model_id"] == "openai:smollm2"
    assert run["attempts"][-1]["input_tokens"] > 0


def test_a_stream_and_a_typed_task_through_the_upstream(upstream_url: str) -> None:
    with openai.OpenAI(
        base_url=f"{upstream_url}/v1", api_key="unused", max_retries=0, timeout=900
    ) as client:
        _stream_and_task(client)


def _stream_and_task(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="openai:smollm2",
        messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=64,
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[0].id.startswith("run_")
    labelled = client.chat.completions.create(
        model="atomic:task/sentiment",
        messages=[{"role": "user", "content": "Thanks so much, it worked perfectly!"}],
    )
    assert json.loads(labelled.choices[0].message.content or "") in {
        "positive",
        "neutral",
        "negative",
    }
