"""The embeddings-endpoint encoder over real HTTP, against the loopback server of conftest."""

from __future__ import annotations

import numpy as np
import pytest

from atomic.encoders import (
    CachedEncoder,
    EncoderEndpointDownError,
    EncoderEndpointError,
    LocalEncoder,
    OpenAIEncoder,
    encoder_from_settings,
)
from atomic.errors import ConfigError
from atomic.settings import AtomicSettings
from tests.encoders.conftest import EmbeddingsServer


def _encoder(server: EmbeddingsServer, scenario: str = "ok", **kwargs: object) -> OpenAIEncoder:
    args: dict[str, object] = {"base_url": server.url(scenario), "api_key": server.api_key}
    return OpenAIEncoder(server.model, **{**args, **kwargs})  # type: ignore[arg-type]


async def test_vectors_come_back_in_the_texts_order(
    embeddings_server: EmbeddingsServer, local_encoder: LocalEncoder
) -> None:
    texts = ["card not arrived", "exchange rate", "top up failed", "change my pin"]
    encoder = _encoder(embeddings_server, batch_size=3)  # two requests
    try:
        remote = await encoder.encode(texts)
    finally:
        await encoder.aclose()
    np.testing.assert_allclose(remote, local_encoder.encode_sync(texts), atol=1e-5)
    assert encoder.dim == 384
    assert encoder.name == "openai:all-minilm-l6-v2"
    np.testing.assert_allclose(encoder.encode_sync(texts[:1]), remote[:1], atol=1e-5)


async def test_settings_build_a_cached_endpoint_encoder(
    embeddings_server: EmbeddingsServer,
) -> None:
    settings = AtomicSettings(
        encoder=f"openai:{embeddings_server.model}",
        encoder_url=embeddings_server.url(),
        openai_api_key=embeddings_server.api_key,
    )
    encoder = encoder_from_settings(settings)
    assert isinstance(encoder, CachedEncoder)
    assert isinstance(encoder.inner, OpenAIEncoder)
    try:
        await encoder.encode(["hello", "hello"])
    finally:
        await encoder.aclose()
    assert (encoder.hits, encoder.misses) == (1, 1)


def test_an_endpoint_encoder_without_a_url_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        encoder_from_settings(AtomicSettings(encoder="openai:m", openai_base_url=None))
    assert "ATOMIC_ENCODER_URL" in str(caught.value)


@pytest.mark.parametrize(
    ("scenario", "api_key", "model", "error", "says", "hint"),
    [
        ("ok", "wrong", None, EncoderEndpointError, "401: invalid api key", "OPENAI_API_KEY"),
        ("ok", None, "nomic", EncoderEndpointError, "404: model 'nomic' not found", "model name"),
        ("broken", None, None, EncoderEndpointDownError, "500: out of memory", "try again"),
        ("busy", None, None, EncoderEndpointDownError, "429: slow down", "try again"),
        ("garbage", None, None, EncoderEndpointError, "not an embeddings list", "/v1"),
        ("short", None, None, EncoderEndpointError, "returned 1 vectors of 384 for 2", "model"),
    ],
)
async def test_each_failure_says_what_happened_and_what_to_do(
    embeddings_server: EmbeddingsServer,
    scenario: str,
    api_key: str | None,
    model: str | None,
    error: type[EncoderEndpointError],
    says: str,
    hint: str,
) -> None:
    encoder = OpenAIEncoder(
        model or embeddings_server.model,
        base_url=embeddings_server.url(scenario),
        api_key=api_key or embeddings_server.api_key,
    )
    try:
        with pytest.raises(EncoderEndpointError) as caught:
            await encoder.encode(["one", "two"])
    finally:
        await encoder.aclose()
    assert type(caught.value) is error
    assert says in str(caught.value)
    assert hint in (caught.value.hint or "")
    assert caught.value.is_retryable is (error is EncoderEndpointDownError)


async def test_a_server_that_is_down_is_a_retryable_error(down_url: str) -> None:
    encoder = OpenAIEncoder("m", base_url=down_url, timeout=5)
    try:
        with pytest.raises(EncoderEndpointDownError) as caught:
            await encoder.encode(["x"])
    finally:
        await encoder.aclose()
    assert "gave no answer" in str(caught.value)
    assert "ATOMIC_ENCODER_URL" in (caught.value.hint or "")
    assert caught.value.to_dict()["retryable"] is True
    with pytest.raises(EncoderEndpointDownError):
        encoder.encode_sync(["x"])
