"""Offline mode (``ATOMIC_OFFLINE=1``): only local models are registered, and the process may
open no connection but to loopback, for real: TEST-NET-1 (192.0.2.1) never answers, so a
refusal that comes at once is the guard's, not a timeout."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import httpx
import pytest

from atomic import Atomic
from atomic._net import OfflineError, offline_enforced
from atomic.errors import AtomicError
from atomic.models import FunctionModel, Message, ModelRequest, Residency, function_card
from atomic.models._openai import OpenAICompatModel
from atomic.settings import load_settings
from tests.audit.conftest import CapturingPeer, route, settings_for

UNREACHABLE = "192.0.2.1"  # TEST-NET-1 (RFC 5737): routed nowhere, never answers
TICKET = {"text": "my card never arrived", "customer": "Ada Lovelace"}
HELLO = ModelRequest(messages=(Message(role="user", content="hello"),))


async def test_offline_registers_only_local_models_and_refuses_other_hosts(
    tmp_path: Path,
    store_url: str,
    capturing_peer: CapturingPeer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    capturing_peer.reset()
    models = [
        capturing_peer.model(Residency.CLOUD),  # on loopback, but declared cloud: excluded
        capturing_peer.model(Residency.ON_PREM),
        capturing_peer.model(Residency.LOCAL),
        FunctionModel(lambda r: '{"label": "cards"}', card=function_card("fn:local")),
    ]
    settings = settings_for(tmp_path, store_url, offline=True)
    with caplog.at_level(logging.WARNING, logger="atomic"):
        atomic = await Atomic.open(settings, models=models, tasks=[route])
    try:
        assert offline_enforced()
        assert sorted(m.id for m in atomic.registry) == ["fn:local", "peer:peer-local"]
        assert "peer:peer-cloud is cloud, not local" in caplog.text
        with pytest.raises(AtomicError):
            await atomic.run(route, TICKET, model="peer:peer-cloud")
        assert capturing_peer.received == []

        # Loopback keeps working: the local model's HTTP server, and the store (PostgreSQL
        # on loopback, or a SQLite file).
        result = await atomic.run(route, TICKET, model="peer:peer-local")
        assert result.output == "cards"
        assert len(capturing_peer.received) == 1
        assert (await atomic.get_run(result.run_id)).model_id == "peer:peer-local"

        start = time.monotonic()
        with pytest.raises(OfflineError) as caught:
            socket.create_connection((UNREACHABLE, 80), timeout=30)
        assert time.monotonic() - start < 1.0
        assert UNREACHABLE in caught.value.message
        assert "ATOMIC_OFFLINE" in caught.value.message
        assert caught.value.hint is not None

        with pytest.raises(httpx.ConnectError) as refused:
            async with httpx.AsyncClient(timeout=30) as client:
                await client.get(f"http://{UNREACHABLE}/")
        assert time.monotonic() - start < 2.0
        assert _caused_by_offline(refused.value)

        remote = OpenAICompatModel(base_url=f"http://{UNREACHABLE}:8000/v1", model="gpt")
        try:
            with pytest.raises(
                OfflineError, match=r"a request from openai:gpt to 192\.0\.2\.1:8000"
            ):
                await remote.invoke(HELLO)
        finally:
            await remote.aclose()
        assert time.monotonic() - start < 3.0
    finally:
        await atomic.aclose()
    assert not offline_enforced()


def _caused_by_offline(error: BaseException | None) -> bool:
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, OfflineError):
            return True
        if isinstance(error, BaseExceptionGroup) and any(
            _caused_by_offline(e) for e in error.exceptions
        ):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


async def test_offline_refuses_a_database_that_is_not_on_this_machine(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, f"postgresql://atomic@{UNREACHABLE}:5432/atomic", offline=True
    )

    start = time.monotonic()
    with pytest.raises(OfflineError) as caught:
        await Atomic.open(settings, models=[], tasks=[route])

    assert time.monotonic() - start < 1.0
    assert f"the database at {UNREACHABLE}:5432" in caught.value.message
    assert not offline_enforced()


def test_atomic_offline_turns_offline_mode_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATOMIC_OFFLINE", "1")
    assert load_settings().offline is True
    monkeypatch.setenv("ATOMIC_OFFLINE", "0")
    assert load_settings().offline is False
