"""The OpenAI-compatible front door, through the official ``openai`` client against a real
server: ``atomic:auto``, ``atomic:task/<name>``, a registered model id, ``response_format``,
streams, and errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.service.conftest import Service


@pytest.fixture
def client(service: Service) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{service.url}/v1", api_key="unused", max_retries=0) as client:
        yield client


def test_atomic_auto_answers_and_the_run_id_comes_back(
    client: openai.OpenAI, service: Service
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="atomic:auto", messages=[{"role": "user", "content": "hello there"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.id.startswith("run_")
    assert raw.headers["x-atomic-run-id"] == completion.id
    with service.client() as rest:
        run = rest.get(f"/v1/runs/{completion.id}").json()
        feedback = rest.post(f"/v1/runs/{completion.id}/feedback", json={"kind": "correct"})
    assert run["task_name"] == "chat"
    assert run["status"] == "succeeded"
    assert run["input"]["messages"] == [{"role": "user", "content": "hello there"}]
    assert feedback.status_code == 200, feedback.text


def test_a_task_model_takes_the_last_user_message_as_input(client: openai.OpenAI) -> None:
    as_text = client.chat.completions.create(
        model="atomic:task/triage", messages=[{"role": "user", "content": "my card was stolen"}]
    )
    as_json = client.chat.completions.create(
        model="atomic:task/facts",
        messages=[
            {"role": "system", "content": "ignored"},
            {"role": "user", "content": json.dumps({"text": "ACME took 12.50"})},
        ],
    )
    assert json.loads(as_text.choices[0].message.content or "") == "fraud"
    assert json.loads(as_json.choices[0].message.content or "") == {
        "amount": 12.5,
        "merchant": "ACME",
    }


def test_a_registered_model_id_pins_that_model(client: openai.OpenAI, service: Service) -> None:
    completion = client.chat.completions.create(
        model="backup:any", messages=[{"role": "user", "content": "pinned"}]
    )
    assert completion.model == "backup:any"
    with service.client() as rest:
        explained = rest.get(f"/v1/runs/{completion.id}/explain").json()
    assert explained["winner"] == "backup:any"


def test_response_format_json_schema_is_the_output_type(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": schema}}
    completion = client.chat.completions.create(
        model="atomic:auto",
        messages=[{"role": "user", "content": "largest city of France?"}],
        response_format=fmt,  # type: ignore[arg-type]
    )
    assert json.loads(completion.choices[0].message.content or "") == {
        "city": "Paris",
        "population": 2_100_000,
    }
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="rules:triage",
            messages=[{"role": "user", "content": "wrong answer please"}],
            response_format=fmt,  # type: ignore[arg-type]
        )
    assert caught.value.status_code == 502
    body = caught.value.response.json()
    assert body["code"] == "output.invalid"
    assert body["context"]["run_id"].startswith("run_")


def test_a_stream_comes_in_openai_chunks(client: openai.OpenAI) -> None:
    words = "one two three four five six seven eight nine ten eleven twelve"
    stream = client.chat.completions.create(
        model="atomic:auto",
        messages=[{"role": "user", "content": words}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"echo: {words}"
    assert len([c for c in chunks if c.choices]) > 3
    assert {c.id for c in chunks} == {chunks[0].id}
    assert chunks[0].id.startswith("run_")
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None


def test_a_failure_before_the_first_token_cascades_unseen(
    client: openai.OpenAI, service: Service
) -> None:
    for _ in range(3):
        stream = client.chat.completions.create(
            model="atomic:auto",
            messages=[{"role": "user", "content": "a flaky question"}],
            stream=True,
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "echo: a flaky question"
        with service.client() as rest:
            run = rest.get(f"/v1/runs/{chunks[0].id}").json()
        if run["attempts"][0]["model_id"] == "flaky:chat":
            assert run["attempts"][0]["error_code"] == "model.server_error"
            assert run["attempts"][-1]["error_code"] is None
            return
    pytest.fail("flaky:chat, the likeliest bidder, never won in 3 auctions")


def test_openai_errors_keep_their_status(client: openai.OpenAI, service: Service) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(
            model="nope:model", messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.response.json()["code"] == "model.unknown"
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="atomic:auto", messages=[])
    with httpx.Client(base_url=service.url) as raw:
        bad = raw.post(
            "/v1/chat/completions",
            json={
                "model": "atomic:auto",
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "x",
                        "schema": {"type": "object", "properties": {"a": {"type": "tuple"}}},
                    },
                },
            },
        )
    assert bad.status_code == 422
    assert bad.json()["code"] == "structured.unsupported_schema"


def test_a_repeated_stream_is_replayed_whole(service: Service) -> None:
    body = {
        "model": "atomic:auto",
        "messages": [{"role": "user", "content": "stream me once"}],
        "stream": True,
    }
    headers = {"Idempotency-Key": f"stream-{uuid.uuid4()}"}
    with httpx.Client(base_url=service.url, timeout=30) as raw:
        first = raw.post("/v1/chat/completions", json=body, headers=headers)
        calls = service.calls.total()
        again = raw.post("/v1/chat/completions", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.headers["content-type"].startswith("text/event-stream")
    assert again.text == first.text
    assert again.text.endswith("data: [DONE]\n\n")
    assert again.headers["x-atomic-run-id"] == first.headers["x-atomic-run-id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert service.calls.total() == calls
