"""The OpenAI-compatible adapter against real HTTP peers on loopback, and its error parsing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel

from atomic.errors import (
    AuthenticationError,
    ConfigError,
    ContextWindowExceededError,
    InvalidRequestError,
    ModelError,
    ModelUnavailableError,
    RateLimitError,
    ServerError,
    TimeoutError,
    TransportError,
    UnsupportedError,
)
from atomic.models import (
    Message,
    ModelCard,
    ModelRequest,
    OpenAICompatModel,
    OutputSpec,
    OutputStrategy,
    Price,
    Residency,
    Usage,
)
from atomic.models._openai_parse import (
    APIErrorBody,
    error_for_response,
    parse_completion,
    parse_error_body,
    parse_retry_after,
    rejects_json_schema_type,
)
from atomic.models._registry import default_registry
from atomic.settings import AtomicSettings
from atomic.tasks import Task, attempt_model
from tests.fixtures.openai_server import PEER_COST_USD, ErrorPeer, OpenAIServer

HELLO = ModelRequest(
    messages=(Message(role="user", content="Say hello in one word."),), max_tokens=8
)


class Review(BaseModel):
    text: str


class Verdict(BaseModel):
    sentiment: Literal["positive", "negative"]


REVIEW_SENTIMENT = Task(
    "review.sentiment",
    input=Review,
    output=Verdict,
    instructions="Say whether the product review is positive or negative.",
    max_output_tokens=48,
)

VERDICT_SPEC = OutputSpec(
    name="review.sentiment",
    json_schema=REVIEW_SENTIMENT.schema.wire_schema,
    strategy=OutputStrategy.JSON_SCHEMA,
)


@pytest.fixture
async def served(openai_server: OpenAIServer) -> AsyncIterator[OpenAICompatModel]:
    model = OpenAICompatModel(
        base_url=openai_server.base_url, model=openai_server.model, api_key=openai_server.api_key
    )
    yield model
    await model.aclose()


async def _fails_with(model: OpenAICompatModel, request: ModelRequest = HELLO) -> ModelError:
    try:
        await model.invoke(request)
    except ModelError as exc:
        return exc
    finally:
        await model.aclose()
    pytest.fail(f"{model!r} answered instead of failing")


def _peer(error_peer: ErrorPeer, scenario: str, **kwargs: Any) -> OpenAICompatModel:
    return OpenAICompatModel(
        base_url=error_peer.url(scenario), model="peer-model", **{"api_key": "k", **kwargs}
    )


# --- the real llama.cpp server ----------------------------------------------------------------


@pytest.mark.llm
async def test_plain_chat_returns_text_usage_and_latency(
    served: OpenAICompatModel, openai_server: OpenAIServer
) -> None:
    response = await served.invoke(HELLO)

    assert response.model_id == f"openai:{openai_server.model}"
    assert response.text.strip()
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.latency_ms > 0
    assert response.finish_reason in ("stop", "length")
    assert response.strategy is OutputStrategy.PROMPT
    assert response.cost_usd == 0.0  # the default card is free, and llama.cpp reports no cost


@pytest.mark.llm
async def test_default_card_of_a_loopback_server(served: OpenAICompatModel) -> None:
    assert served.card.residency is Residency.LOCAL
    assert served.card.context_window == 8192
    assert served.card.strategies == {OutputStrategy.JSON_SCHEMA, OutputStrategy.PROMPT}


@pytest.mark.llm
async def test_json_schema_task_validates_through_attempt_model(
    served: OpenAICompatModel,
) -> None:
    outcome = await attempt_model(
        REVIEW_SENTIMENT, Review(text="I love it, works perfectly."), served, max_attempts=1
    )

    assert isinstance(outcome.output, Verdict)
    assert outcome.output.sentiment in ("positive", "negative")
    [attempt] = outcome.attempts
    assert attempt.strategy is OutputStrategy.JSON_SCHEMA
    assert attempt.response is not None
    assert attempt.response.strategy is OutputStrategy.JSON_SCHEMA
    # llama-cpp-python rejects the standard json_schema form (see the next test), so the
    # adapter moved to the json_object form it honours.
    assert served.schema_format == "json_object"


@pytest.mark.llm
async def test_llama_cpp_server_rejects_the_standard_json_schema_form(
    openai_server: OpenAIServer,
) -> None:
    model = OpenAICompatModel(
        base_url=openai_server.base_url,
        model=openai_server.model,
        api_key=openai_server.api_key,
        schema_format="json_schema",
    )
    request = ModelRequest(messages=HELLO.messages, output=VERDICT_SPEC, max_tokens=32)

    error = await _fails_with(model, request)

    # It wraps FastAPI's validation error in a 500; no retry can fix it, so not a ServerError.
    assert type(error) is InvalidRequestError
    assert error.status == 500
    assert "response_format" in error.message
    assert "json_object" in error.message


@pytest.mark.llm
async def test_json_object_form_returns_schema_valid_json(openai_server: OpenAIServer) -> None:
    model = OpenAICompatModel(
        base_url=openai_server.base_url,
        model=openai_server.model,
        api_key=openai_server.api_key,
        schema_format="json_object",
    )
    request = ModelRequest(
        messages=(
            Message(role="system", content="Classify the review. Answer in JSON."),
            Message(role="user", content="Terrible. It broke on the first day."),
        ),
        output=VERDICT_SPEC,
        max_tokens=32,
    )
    try:
        response = await model.invoke(request)
    finally:
        await model.aclose()

    data = json.loads(response.text)
    assert Verdict.model_validate(data).sentiment in ("positive", "negative")
    assert response.strategy is OutputStrategy.JSON_SCHEMA
    assert model.schema_format == "json_object"


@pytest.mark.llm
async def test_model_the_server_cannot_load_is_unavailable(
    openai_server: OpenAIServer, served: OpenAICompatModel
) -> None:
    missing = OpenAICompatModel(
        base_url=openai_server.base_url,
        model=openai_server.missing_model,
        api_key=openai_server.api_key,
    )

    error = await _fails_with(missing)

    assert isinstance(error, ModelUnavailableError)
    assert error.status == 400
    assert error.context["code"] == "model_not_found"
    assert openai_server.base_url in error.message
    assert f"openai:{openai_server.missing_model}" in error.message
    assert error.hint is not None
    assert "list_models()" in error.hint
    # The server reloads its default model afterwards: the served model still answers.
    assert (await served.invoke(HELLO)).text


@pytest.mark.llm
async def test_oversized_prompt_exceeds_the_context_window(
    served: OpenAICompatModel, openai_server: OpenAIServer
) -> None:
    words = "lorem ipsum " * openai_server.n_ctx
    request = ModelRequest(messages=(Message(role="user", content=words),), max_tokens=16)

    with pytest.raises(ContextWindowExceededError) as caught:
        await served.invoke(request)

    assert caught.value.status == 400
    assert caught.value.context["code"] == "context_length_exceeded"
    assert not caught.value.is_retryable
    assert str(openai_server.n_ctx) in caught.value.message


@pytest.mark.llm
@pytest.mark.parametrize("api_key", ["wrong-key", None])
async def test_wrong_or_missing_key_is_an_authentication_error(
    openai_server: OpenAIServer, api_key: str | None
) -> None:
    model = OpenAICompatModel(
        base_url=openai_server.base_url, model=openai_server.model, api_key=api_key
    )

    error = await _fails_with(model)

    assert isinstance(error, AuthenticationError)
    assert error.status == 401
    assert error.hint is not None
    assert "ATOMIC_OPENAI_API_KEY" in error.hint
    assert not error.is_retryable


@pytest.mark.llm
async def test_list_models_names_the_served_aliases(
    served: OpenAICompatModel, openai_server: OpenAIServer
) -> None:
    names = await served.list_models()

    assert openai_server.model in names
    assert openai_server.missing_model in names


@pytest.mark.llm
async def test_default_registry_registers_and_serves_the_endpoint(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    settings = AtomicSettings(
        home=tmp_path,
        openai_base_url=openai_server.base_url,
        openai_models=[openai_server.model],
        openai_api_key=openai_server.api_key,
        local_models=[],
    )
    registry = default_registry(settings)
    try:
        model = registry.get(f"openai:{openai_server.model}")
        response = await model.invoke(HELLO)
    finally:
        await registry.aclose()

    assert len(registry) == 1
    assert isinstance(model, OpenAICompatModel)
    assert response.text.strip()
    assert response.usage.output_tokens > 0


@pytest.mark.llm
async def test_a_shared_client_stays_open(openai_server: OpenAIServer) -> None:
    async with httpx.AsyncClient() as client:
        model = OpenAICompatModel(
            base_url=openai_server.base_url,
            model=openai_server.model,
            api_key=openai_server.api_key,
            client=client,
        )
        response = await model.invoke(HELLO)
        await model.aclose()

        assert response.text
        assert not client.is_closed


# --- transport failures -----------------------------------------------------------------------


async def test_server_that_is_down_is_a_retryable_transport_error(down_url: str) -> None:
    error = await _fails_with(OpenAICompatModel(base_url=down_url, model="any"))

    assert type(error) is TransportError
    assert error.is_retryable
    assert error.status is None
    assert down_url in error.message


async def test_slow_answer_is_a_timeout(error_peer: ErrorPeer) -> None:
    error = await _fails_with(_peer(error_peer, "slow", timeout=0.3))

    assert isinstance(error, TimeoutError)
    assert isinstance(error, TransportError)
    assert error.is_retryable
    assert error.context["timeout"] == 0.3


# --- answers only the error peer gives --------------------------------------------------------


@pytest.mark.parametrize(("scenario", "seconds"), [("rate-limited", 7.0), ("rate-limited-ms", 1.5)])
async def test_rate_limit_carries_retry_after(
    error_peer: ErrorPeer, scenario: str, seconds: float
) -> None:
    error = await _fails_with(_peer(error_peer, scenario))

    assert isinstance(error, RateLimitError)
    assert error.retry_after == seconds
    assert error.status == 429
    assert error.is_retryable
    assert error.hint is not None
    assert f"{seconds:g}s" in error.hint


async def test_forbidden_is_an_authentication_error(error_peer: ErrorPeer) -> None:
    error = await _fails_with(_peer(error_peer, "forbidden"))

    assert isinstance(error, AuthenticationError)
    assert error.status == 403


@pytest.mark.parametrize(("scenario", "status"), [("server-error", 500), ("overloaded", 503)])
async def test_server_failures_are_retryable(
    error_peer: ErrorPeer, scenario: str, status: int
) -> None:
    error = await _fails_with(_peer(error_peer, scenario))

    assert type(error) is ServerError
    assert error.status == status
    assert error.is_retryable
    assert error_peer.url(scenario) in error.message


async def test_overloaded_server_keeps_its_retry_after(error_peer: ErrorPeer) -> None:
    error = await _fails_with(_peer(error_peer, "overloaded"))

    assert error.context["retry_after"] == 30.0
    assert "503 Service Unavailable" in error.message


async def test_bad_parameter_is_an_invalid_request_naming_it(error_peer: ErrorPeer) -> None:
    error = await _fails_with(_peer(error_peer, "bad-request"))

    assert type(error) is InvalidRequestError
    assert error.context["param"] == "temperature"
    assert error.hint is not None
    assert "'temperature'" in error.hint


async def test_unknown_path_is_unavailable_with_a_base_url_hint(error_peer: ErrorPeer) -> None:
    error = await _fails_with(_peer(error_peer, "no-such-route"))

    assert isinstance(error, ModelUnavailableError)
    assert error.status == 404
    assert error.hint is not None
    assert "/v1" in error.hint


async def test_200_that_is_not_a_chat_completion_is_a_server_error(error_peer: ErrorPeer) -> None:
    error = await _fails_with(_peer(error_peer, "malformed"))

    assert type(error) is ServerError
    assert error.status == 200
    assert "not a chat completion" in error.message


async def test_cost_reported_by_the_server_wins(error_peer: ErrorPeer) -> None:
    card = ModelCard(
        id="gateway:peer-model",
        price=Price(input_per_mtok=1.0, output_per_mtok=2.0),
        context_window=8192,
        residency=Residency.CLOUD,
        strategies=frozenset({OutputStrategy.PROMPT}),
    )
    model = _peer(error_peer, "priced", card=card)
    try:
        response = await model.invoke(HELLO)
    finally:
        await model.aclose()

    assert response.cost_usd == PEER_COST_USD
    assert response.model_id == "gateway:peer-model"


async def test_cost_from_the_card_when_the_server_reports_none(error_peer: ErrorPeer) -> None:
    card = ModelCard(
        id="gateway:peer-model",
        price=Price(input_per_mtok=1.0, output_per_mtok=2.0, per_call=0.001),
        context_window=8192,
        residency=Residency.CLOUD,
        strategies=frozenset({OutputStrategy.PROMPT}),
    )
    model = _peer(error_peer, "unpriced", card=card)
    try:
        response = await model.invoke(HELLO)
    finally:
        await model.aclose()

    assert response.usage == Usage(input_tokens=12, output_tokens=5)
    assert response.cost_usd == pytest.approx(0.001 + 12 * 1e-6 + 5 * 2e-6)


async def test_standard_json_schema_form_and_options_are_sent(error_peer: ErrorPeer) -> None:
    model = _peer(error_peer, "echo", headers={"X-Tenant": "acme"})
    request = ModelRequest(
        messages=(Message(role="system", content="s"), Message(role="user", content="u")),
        output=VERDICT_SPEC,
        max_tokens=33,
        temperature=0.5,
        seed=7,
    )
    try:
        response = await model.invoke(request)
    finally:
        await model.aclose()

    sent = json.loads(response.text)
    body, headers = sent["body"], sent["headers"]
    assert body["model"] == "peer-model"
    assert body["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
    ]
    assert (body["max_tokens"], body["temperature"], body["seed"]) == (33, 0.5, 7)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "review_sentiment",
            "schema": REVIEW_SENTIMENT.schema.wire_schema,
            "strict": True,
        },
    }
    assert headers["authorization"] == "Bearer k"
    assert headers["x-tenant"] == "acme"
    assert model.schema_format == "auto"


async def test_prompt_strategy_sends_no_response_format(error_peer: ErrorPeer) -> None:
    model = _peer(error_peer, "echo", api_key=None)
    spec = VERDICT_SPEC.model_copy(update={"strategy": OutputStrategy.PROMPT})
    request = ModelRequest(messages=HELLO.messages, output=spec, seed=None)
    try:
        response = await model.invoke(request)
    finally:
        await model.aclose()

    sent = json.loads(response.text)
    assert "response_format" not in sent["body"]
    assert "seed" not in sent["body"]
    assert "authorization" not in sent["headers"]


# --- what the adapter refuses before any HTTP call ---------------------------------------------


async def test_grammar_strategy_is_unsupported_without_a_call(down_url: str) -> None:
    spec = VERDICT_SPEC.model_copy(update={"strategy": OutputStrategy.GRAMMAR})
    model = OpenAICompatModel(base_url=down_url, model="any")

    # The server is down: an HTTP call would have raised TransportError instead.
    error = await _fails_with(model, ModelRequest(messages=HELLO.messages, output=spec))

    assert type(error) is UnsupportedError
    assert "grammar" in error.message


async def test_json_schema_is_unsupported_when_switched_off(down_url: str) -> None:
    model = OpenAICompatModel(base_url=down_url, model="any", json_schema=False)
    assert model.card.strategies == {OutputStrategy.PROMPT}

    error = await _fails_with(model, ModelRequest(messages=HELLO.messages, output=VERDICT_SPEC))

    assert type(error) is UnsupportedError


@pytest.mark.parametrize(
    ("base_url", "residency"),
    [
        ("http://127.0.0.1:8000/v1", Residency.LOCAL),
        ("http://127.9.9.9:8000/v1", Residency.LOCAL),
        ("http://localhost:11434/v1", Residency.LOCAL),
        ("http://[::1]:8000/v1", Residency.LOCAL),
        ("https://api.openai.com/v1", Residency.CLOUD),
        ("http://10.0.0.5:8000/v1", Residency.CLOUD),
    ],
)
async def test_default_card_residency_follows_the_host(base_url: str, residency: Residency) -> None:
    model = OpenAICompatModel(base_url=base_url, model="m", provider="vllm")
    await model.aclose()

    assert model.card.residency is residency
    assert model.card.id == "vllm:m"
    assert model.card.price.cost(Usage(input_tokens=1000, output_tokens=1000)) == 0.0


async def test_a_given_card_is_used_as_is() -> None:
    card = ModelCard(
        id="openai:gpt-4o-mini",
        price=Price(input_per_mtok=0.15, output_per_mtok=0.6),
        context_window=128_000,
        residency=Residency.CLOUD,
        strategies=frozenset({OutputStrategy.JSON_SCHEMA, OutputStrategy.PROMPT}),
    )
    model = OpenAICompatModel(base_url="http://127.0.0.1:1/v1", model="gpt-4o-mini", card=card)
    await model.aclose()

    assert model.card is card


@pytest.mark.parametrize("base_url", ["127.0.0.1:8000/v1", "ftp://host/v1", "http:///v1"])
def test_base_url_without_scheme_or_host_is_a_config_error(base_url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        OpenAICompatModel(base_url=base_url, model="m")

    assert caught.value.context["base_url"] == base_url
    assert caught.value.hint is not None
    assert "http://" in caught.value.hint


# --- parsing error bodies (pure) --------------------------------------------------------------

LLAMA_CPP_PYTHON_422 = {
    "detail": [
        {
            "type": "literal_error",
            "loc": ["body", "response_format", "type"],
            "msg": "Input should be 'text' or 'json_object'",
            "input": "json_schema",
        }
    ]
}


# What llama-cpp-python's server answers (HTTP 500) to response_format type json_schema.
LLAMA_CPP_PYTHON_500 = {
    "error": {
        "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', "
        "'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", "
        "'input': 'json_schema', 'ctx': {'expected': \"'text' or 'json_object'\"}}",
        "type": "internal_server_error",
        "param": None,
        "code": None,
    }
}


def test_llama_cpp_python_500_is_a_rejected_json_schema_type() -> None:
    parsed = parse_error_body(500, json.dumps(LLAMA_CPP_PYTHON_500))

    assert parsed.type == "internal_server_error"
    assert rejects_json_schema_type(parsed)


def test_parse_openai_error_body() -> None:
    body = {
        "error": {
            "message": "The model `gpt-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }
    parsed = parse_error_body(404, json.dumps(body).encode())

    assert parsed == APIErrorBody(
        status=404,
        message="The model `gpt-9` does not exist or you do not have access to it.",
        code="model_not_found",
        type="invalid_request_error",
    )


def test_parse_vllm_top_level_error_body() -> None:
    body = {
        "object": "error",
        "message": "This model's maximum context length is 2048 tokens.",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    parsed = parse_error_body(400, json.dumps(body))

    assert parsed.message == "This model's maximum context length is 2048 tokens."
    assert parsed.type == "BadRequestError"
    assert parsed.code is None  # a numeric code only repeats the status


def test_parse_ollama_string_error() -> None:
    parsed = parse_error_body(
        404, b'{"error": "model \\"llama9\\" not found, try pulling it first"}'
    )

    assert parsed.message == 'model "llama9" not found, try pulling it first'


def test_parse_fastapi_validation_detail() -> None:
    parsed = parse_error_body(422, json.dumps(LLAMA_CPP_PYTHON_422))

    assert parsed.message == (
        "body.response_format.type: Input should be 'text' or 'json_object' (got \"json_schema\")"
    )
    assert rejects_json_schema_type(parsed)


def test_parse_plain_text_empty_and_long_bodies() -> None:
    assert parse_error_body(502, b"<html>Bad Gateway</html>").message == "<html>Bad Gateway</html>"
    assert parse_error_body(500, b"").message == "an empty body (HTTP 500)"
    long = parse_error_body(500, "x" * 5000).message
    assert len(long) == 500
    assert long.endswith("...")


def test_parse_error_body_reads_retry_after() -> None:
    parsed = parse_error_body(429, "{}", httpx.Headers({"Retry-After": "3"}))

    assert parsed.retry_after == 3.0


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After": "7", "retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "Thu, 01 Jan 2026 12:00:20 GMT"}, 20.0),
        ({"Retry-After": "Thu, 01 Jan 2026 11:00:00 GMT"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "nan"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == seconds


def _classify(status: int, body: Any) -> ModelError:
    text = body if isinstance(body, str) else json.dumps(body)
    return error_for_response(
        parse_error_body(status, text), model_id="openai:m", model="m", base_url="http://h/v1"
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, {"error": {"message": "slow down"}}, RateLimitError),
        (401, {"error": {"message": "Incorrect API key provided"}}, AuthenticationError),
        (403, {"detail": "forbidden"}, AuthenticationError),
        (
            400,
            {"error": {"message": "too long", "code": "context_length_exceeded"}},
            ContextWindowExceededError,
        ),
        (  # llama.cpp's own server (llama-server)
            400,
            {
                "error": {
                    "code": 400,
                    "message": "the request exceeds the available context size, try increasing it",
                    "type": "exceed_context_size_error",
                }
            },
            ContextWindowExceededError,
        ),
        (  # vLLM
            400,
            {"object": "error", "message": "This model's maximum context length is 2048 tokens."},
            ContextWindowExceededError,
        ),
        (  # llama-cpp-python's own words, before its server rewrites them
            400,
            {"error": {"message": "Requested tokens (3000) exceed context window of 1024"}},
            ContextWindowExceededError,
        ),
        (413, "prompt is too long", ContextWindowExceededError),
        (413, "Request Entity Too Large", InvalidRequestError),
        (404, {"error": {"message": "x", "code": "model_not_found"}}, ModelUnavailableError),
        (404, {"detail": "Not Found"}, ModelUnavailableError),
        (400, {"error": {"message": "x", "code": "model_not_found"}}, ModelUnavailableError),
        (400, {"error": "model 'llama9' not found, try pulling it first"}, ModelUnavailableError),
        (400, {"message": "The model `foo` does not exist."}, ModelUnavailableError),
        (400, {"error": {"message": "Invalid value for 'n'", "param": "n"}}, InvalidRequestError),
        (422, LLAMA_CPP_PYTHON_422, InvalidRequestError),
        (500, LLAMA_CPP_PYTHON_500, InvalidRequestError),
        (408, "Request Timeout", TimeoutError),
        (500, {"error": {"message": "model not found"}}, ServerError),
        (502, "<html>Bad Gateway</html>", ServerError),
        (529, {"error": {"message": "Overloaded"}}, ServerError),
    ],
)
def test_error_for_response_classifies(status: int, body: Any, expected: type[ModelError]) -> None:
    error = _classify(status, body)

    assert type(error) is expected
    assert error.status == status
    assert error.model_id == "openai:m"
    assert "http://h/v1" in error.message
    assert f"HTTP {status}" in error.message
    assert error.hint


def test_insufficient_quota_says_so() -> None:
    error = _classify(429, {"error": {"message": "quota", "code": "insufficient_quota"}})

    assert isinstance(error, RateLimitError)
    assert error.hint is not None
    assert "quota" in error.hint


def test_only_a_rejected_json_schema_type_triggers_the_fallback() -> None:
    openai_schema_error = parse_error_body(
        400,
        json.dumps(
            {
                "error": {
                    "message": "Invalid schema for response_format 'x': 'additionalProperties' "
                    "is required to be supplied and to be false",
                    "param": "response_format",
                }
            }
        ),
    )

    assert not rejects_json_schema_type(openai_schema_error)
    assert not rejects_json_schema_type(APIErrorBody(status=500, message="response_format"))


# --- parsing completions (pure) ---------------------------------------------------------------


def test_parse_completion_keeps_text_usage_cost_and_finish_reason() -> None:
    body = {
        "choices": [{"message": {"content": "hi"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "cost": 0.5},
    }
    completion = parse_completion(body)

    assert completion is not None
    assert (completion.text, completion.finish_reason) == ("hi", "length")
    assert completion.usage == Usage(input_tokens=3, output_tokens=2)
    assert completion.cost_usd == 0.5


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"content": None, "refusal": "no"}, ""),
        ({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, "ab"),
    ],
)
def test_parse_completion_content_forms(message: dict[str, Any], text: str) -> None:
    completion = parse_completion({"choices": [{"message": message}]})

    assert completion is not None
    assert completion.text == text
    assert completion.usage == Usage()
    assert completion.cost_usd is None


@pytest.mark.parametrize("cost", [True, -1, "0.1"])
def test_parse_completion_ignores_a_bogus_cost(cost: Any) -> None:
    body = {"choices": [{"message": {"content": "x"}}], "usage": {"cost": cost}}
    completion = parse_completion(body)

    assert completion is not None
    assert completion.cost_usd is None


@pytest.mark.parametrize(
    "body",
    [None, [], {"choices": []}, {"choices": [{}]}, {"choices": [{"message": {"content": 3}}]}],
)
def test_parse_completion_rejects_what_is_not_a_completion(body: Any) -> None:
    assert parse_completion(body) is None
