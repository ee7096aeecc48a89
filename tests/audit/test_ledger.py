"""The egress ledger against a real loopback OpenAI-compatible server registered as ``cloud``:
one entry per request, written before it, hashing the exact bytes the server received."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from atomic import Atomic
from atomic.audit import EgressLedger, EgressNotRecordedError, policy_version
from atomic.models import FunctionModel, Residency, function_card
from atomic.storage import RunStatus
from tests.audit.conftest import CapturingPeer, route, settings_for, sync_url

TICKET = {"text": "my card never arrived", "customer": "Ada Lovelace"}


def _ledger_lookup(store_url: str) -> tuple[Callable[[bytes], bool], sa.Engine]:
    engine = sa.create_engine(sync_url(store_url))

    def has(body: bytes) -> bool:
        digest = hashlib.sha256(body).hexdigest()
        with engine.connect() as connection:
            found = connection.execute(
                sa.text("SELECT count(*) FROM egress_ledger WHERE payload_sha256 = :d"),
                {"d": digest},
            ).scalar_one()
        return bool(found >= 1)

    return has, engine


@pytest.fixture
async def atomic(
    tmp_path: Path, store_url: str, capturing_peer: CapturingPeer
) -> AsyncIterator[Atomic]:
    has, engine = _ledger_lookup(store_url)
    capturing_peer.reset(has)
    models = [
        capturing_peer.model(Residency.CLOUD),
        capturing_peer.model(Residency.LOCAL),
        FunctionModel(lambda r: '{"label": "cards"}', card=function_card("fn:local")),
    ]
    async with await Atomic.open(
        settings_for(tmp_path, store_url), models=models, tasks=[route]
    ) as opened:
        yield opened
    engine.dispose()


async def test_every_request_to_a_cloud_model_has_one_entry_written_before_it(
    atomic: Atomic, capturing_peer: CapturingPeer
) -> None:
    results = [
        await atomic.run(
            route, {**TICKET, "text": f"ticket {i}"}, model="peer:peer-cloud", tenant=t
        )
        for i, t in enumerate(("acme", "acme", "globex"))
    ]

    entries = await atomic.egress.entries()
    received = capturing_peer.received
    assert len(received) == len(entries) == 3
    for got, entry, result in zip(received, entries, results, strict=True):
        assert got.recorded_before is True
        assert entry.payload_sha256 == hashlib.sha256(got.body).hexdigest()
        assert entry.byte_count == len(got.body)
        assert entry.run_id == result.run_id
    assert [e.tenant for e in entries] == ["acme", "acme", "globex"]
    first = entries[0]
    assert (first.seq, first.task_name, first.model_id) == (1, "route", "peer:peer-cloud")
    assert (first.endpoint_host, first.residency, first.region) == (
        "127.0.0.1",
        "cloud",
        "eu-west-1",
    )
    assert first.policy_version == policy_version("internal", ("local", "on_prem", "cloud"))
    assert "internal" in first.rule
    assert "cloud is allowed" in first.rule
    assert first.fields_sent == ["customer", "text"]
    assert first.fields_redacted == first.fields_withheld == []
    assert [e.prev_hash for e in entries[1:]] == [e.entry_hash for e in entries[:-1]]
    assert (await atomic.egress.verify()).ok
    assert await atomic.egress.entries(tenant="globex") == entries[2:]
    assert await atomic.egress.entries(run_id=results[0].run_id) == entries[:1]


async def test_local_models_write_no_entry(atomic: Atomic, capturing_peer: CapturingPeer) -> None:
    await atomic.run(route, TICKET, model="peer:peer-local")
    await atomic.run(route, TICKET, model="fn:local")

    assert len(capturing_peer.received) == 1  # the loopback model was called, unrecorded
    assert await atomic.egress.entries() == []


async def test_a_request_that_cannot_be_recorded_is_not_sent(
    atomic: Atomic, capturing_peer: CapturingPeer
) -> None:
    # The ledger's table is gone: a real write failure on either database.
    async with atomic.store.engine.begin() as connection:
        await connection.execute(sa.text("DROP TABLE egress_ledger"))

    with pytest.raises(EgressNotRecordedError) as caught:
        await atomic.run(route, TICKET, model="peer:peer-cloud")

    assert capturing_peer.received == []
    error = caught.value
    assert "peer:peer-cloud" in error.message
    assert "127.0.0.1" in error.message
    assert "not sent" in error.message
    assert error.hint is not None
    assert "ATOMIC_DATABASE_URL" in error.hint
    runs = await atomic.list_runs(limit=1)
    assert runs[0].status is RunStatus.FAILED
    assert runs[0].error_code == "audit.not_recorded"


async def test_concurrent_calls_make_one_chain_that_verifies(
    atomic: Atomic, capturing_peer: CapturingPeer
) -> None:
    results = await asyncio.gather(
        *(
            atomic.run(route, {**TICKET, "text": f"ticket {i}"}, model="peer:peer-cloud")
            for i in range(12)
        )
    )

    entries = await atomic.egress.entries()
    assert [e.seq for e in entries] == list(range(1, 13))
    assert {e.run_id for e in entries} == {r.run_id for r in results}
    sent = {hashlib.sha256(r.body).hexdigest() for r in capturing_peer.received}
    assert {e.payload_sha256 for e in entries} == sent
    assert all(r.recorded_before for r in capturing_peer.received)
    report = await atomic.egress.verify()
    assert report.ok
    assert report.entries == 12


async def test_a_model_called_outside_a_run_is_recorded_too(
    atomic: Atomic, capturing_peer: CapturingPeer
) -> None:
    from atomic.models import Message, ModelRequest

    model = atomic.registry.get("peer:peer-cloud")
    await model.invoke(ModelRequest(messages=(Message(role="user", content="hello"),)))

    (entry,) = await atomic.egress.entries()
    assert entry.run_id is None
    assert entry.policy_version is None
    assert "outside Atomic.run" in entry.rule
    assert entry.tenant == atomic.settings.tenant
    assert entry.payload_sha256 == hashlib.sha256(capturing_peer.received[0].body).hexdigest()


async def test_writers_in_several_processes_never_fork_the_chain(store_url: str) -> None:
    from atomic.storage import Store

    await (await Store.open(store_url)).close()  # migrate once, before the writers race
    worker = Path(__file__).with_name("ledger_worker.py")
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(worker),
            store_url,
            "15",
            f"tenant-{i}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for i in range(3)
    ]
    outputs = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs

    store = await Store.open(store_url)
    try:
        ledger = EgressLedger(store.engine)
        report = await ledger.verify()
        entries = await ledger.entries()
    finally:
        await store.close()
    assert report.ok, report.problems
    assert [e.seq for e in entries] == list(range(1, 46))
    assert sorted({e.tenant for e in entries}) == ["tenant-0", "tenant-1", "tenant-2"]
