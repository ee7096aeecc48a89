"""Requests servers serve well: only what the call needs, the response_format form and the
context window learned once per endpoint and remembered across processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atomic.config import EndpointConfig
from atomic.models import Message, ModelRequest, OpenAICompatModel, OutputSpec, OutputStrategy
from atomic.models._openai_endpoint import EndpointMemory
from atomic.models._registry import endpoint_model
from atomic.settings import AtomicSettings
from tests.fixtures.openai_server import (
    LLAMA_SERVER_N_CTX,
    VLLM_MAX_MODEL_LEN,
    ErrorPeer,
    OpenAIServer,
)

HELLO = (Message(role="user", content="Say hello."),)
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
    "additionalProperties": False,
}
SPEC = OutputSpec(name="answer", json_schema=SCHEMA, strategy=OutputStrategy.JSON_SCHEMA)


def _peer(error_peer: ErrorPeer, scenario: str, **kwargs: object) -> OpenAICompatModel:
    return OpenAICompatModel(base_url=error_peer.url(scenario), model="peer-model", **kwargs)  # type: ignore[arg-type]


async def _sent(model: OpenAICompatModel, request: ModelRequest) -> dict[str, object]:
    try:
        response = await model.invoke(request)
    finally:
        await model.aclose()
    body: dict[str, object] = json.loads(response.text)["body"]
    return body


async def test_a_task_call_sends_no_temperature_or_seed(error_peer: ErrorPeer) -> None:
    # As the task attempt builds it: the caller set neither option.
    body = await _sent(_peer(error_peer, "echo"), ModelRequest(messages=HELLO, max_tokens=20))
    assert set(body) == {"model", "messages", "max_tokens"}


async def test_options_the_config_asks_for_are_sent(error_peer: ErrorPeer) -> None:
    model = _peer(error_peer, "echo", request_defaults={"temperature": 0.2, "seed": 3})
    body = await _sent(model, ModelRequest(messages=HELLO, max_tokens=20))
    assert (body["temperature"], body["seed"]) == (0.2, 3)


async def test_the_window_is_read_from_llama_server_props_and_remembered(
    error_peer: ErrorPeer, tmp_path: Path
) -> None:
    memory = EndpointMemory.in_home(tmp_path)
    model = _peer(error_peer, "llama-server", memory=memory, window_from_server=True)
    assert model.card.context_window == 8192  # nothing known before the first call
    await _sent(model, ModelRequest(messages=HELLO, max_tokens=5))
    assert model.card.context_window == LLAMA_SERVER_N_CTX
    # A new process knows it before any call.
    again = _peer(error_peer, "llama-server", memory=memory, window_from_server=True)
    assert again.card.context_window == LLAMA_SERVER_N_CTX
    await again.aclose()


async def test_the_window_is_read_from_vllm_models(error_peer: ErrorPeer, tmp_path: Path) -> None:
    model = _peer(error_peer, "vllm", memory=EndpointMemory.in_home(tmp_path))
    try:
        assert await model.refresh_context_window() == VLLM_MAX_MODEL_LEN
    finally:
        await model.aclose()
    assert model.card.context_window == VLLM_MAX_MODEL_LEN


async def test_a_server_that_says_nothing_keeps_the_card_window(error_peer: ErrorPeer) -> None:
    model = _peer(error_peer, "echo")
    try:
        assert await model.refresh_context_window() is None
    finally:
        await model.aclose()
    assert model.card.context_window == 8192


def test_a_declared_window_is_not_asked_for(tmp_path: Path) -> None:
    settings = AtomicSettings(home=tmp_path, local_models=[])
    declared = endpoint_model(
        EndpointConfig(base_url="http://127.0.0.1:1/v1", model="m", context_window=2048), settings
    )
    assert declared.card.context_window == 2048
    assert declared._window_checked


@pytest.mark.llm
async def test_the_response_format_is_learned_once_per_endpoint(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    memory = EndpointMemory.in_home(tmp_path)

    def make() -> OpenAICompatModel:
        return OpenAICompatModel(
            base_url=openai_server.base_url,
            model=openai_server.model,
            api_key=openai_server.api_key,
            memory=memory,
        )

    first = make()
    assert first.schema_format == "auto"
    request = ModelRequest(messages=HELLO, output=SPEC, max_tokens=16)
    try:
        response = await first.invoke(request)
    finally:
        await first.aclose()
    assert json.loads(response.text)["answer"] in ("yes", "no")
    assert first.schema_format == "json_object"
    assert memory.get(first.base_url)["schema_format"] == "json_object"
    # The next process sends the form the server honours from its first request.
    second = make()
    assert second.schema_format == "json_object"
    await second.aclose()
