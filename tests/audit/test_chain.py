"""The chain: edit any entry's field or delete an entry, in the database itself, and
``atomic audit verify`` exits non-zero naming it; exports are signed and checkable."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from typer.testing import CliRunner

from atomic.audit import EgressLedger, verify_export
from atomic.cli._app import app
from atomic.models import Residency
from atomic.models._openai import Egress
from atomic.storage import Store

ENTRIES = 5


async def _fill(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        ledger = EgressLedger(store.engine)
        for i in range(ENTRIES):
            await ledger.append(
                Egress(
                    model_id="openai:gpt-4o-mini",
                    endpoint_host="api.openai.com",
                    residency=Residency.CLOUD,
                    region="us",
                    payload=json.dumps({"n": i}).encode(),
                    task_input={"text": "t", "customer": "c"},
                    tenant="acme" if i % 2 else "globex",
                )
            )
    finally:
        await store.close()


async def _execute(store_url: str, statement: str) -> None:
    store = await Store.open(store_url)
    try:
        async with store.engine.begin() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await store.close()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in list(os.environ):
        if name.startswith("ATOMIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ATOMIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.fixture
def filled(store_url: str) -> str:
    asyncio.run(_fill(store_url))
    return store_url


def test_an_intact_chain_verifies(cli: CliRunner, filled: str) -> None:
    result = cli.invoke(app, ["audit", "verify", "--db", filled])

    assert result.exit_code == 0, result.output
    assert f"{ENTRIES} entries" in result.output


EDITS = {
    "byte_count": "byte_count = byte_count + 1",
    "model_id": "model_id = 'local:innocent'",
    "tenant": "tenant = 'someone-else'",
    "endpoint_host": "endpoint_host = '127.0.0.1'",
    "payload_sha256": "payload_sha256 = '" + "0" * 64 + "'",
    "fields_withheld": "fields_withheld = fields_sent",
    "run_id": "run_id = 'run-forged'",
    "prev_hash": "prev_hash = entry_hash",
}


@pytest.mark.parametrize("seq", [1, 3, ENTRIES])
@pytest.mark.parametrize("field", list(EDITS))
def test_editing_any_field_of_any_entry_is_named(
    cli: CliRunner, filled: str, field: str, seq: int
) -> None:
    asyncio.run(_execute(filled, f"UPDATE egress_ledger SET {EDITS[field]} WHERE seq = {seq}"))

    result = cli.invoke(app, ["audit", "verify", "--db", filled])

    assert result.exit_code == 1
    assert f"entry {seq} was altered" in " ".join(result.output.split())


def test_an_entry_edited_with_its_hash_recomputed_is_named(cli: CliRunner, filled: str) -> None:
    # The forger recomputes entry 2's own hash: it now checks, but entry 3 no longer links.
    async def forge() -> None:
        store = await Store.open(filled)
        try:
            async with store.engine.begin() as connection:
                ledger = EgressLedger(store.engine)
                (entry,) = [e for e in await ledger.entries() if e.seq == 2]
                forged = entry.model_copy(update={"byte_count": 1})
                await connection.execute(
                    sa.text(
                        "UPDATE egress_ledger SET byte_count = 1, entry_hash = :h WHERE seq = 2"
                    ),
                    {"h": forged.expected_hash()},
                )
        finally:
            await store.close()

    asyncio.run(forge())
    result = cli.invoke(app, ["audit", "verify", "--db", filled, "--json"])

    assert result.exit_code == 1
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "audit.chain_broken"
    (problem,) = error["context"]["problems"]
    assert problem["seq"] == 3
    assert problem["kind"] == "unlinked"
    assert "entry 2" in problem["message"]


@pytest.mark.parametrize("seq", [1, 3])
def test_a_deleted_entry_is_named(cli: CliRunner, filled: str, seq: int) -> None:
    asyncio.run(_execute(filled, f"DELETE FROM egress_ledger WHERE seq = {seq}"))

    result = cli.invoke(app, ["audit", "verify", "--db", filled])

    assert result.exit_code == 1
    assert f"entry {seq} is missing" in " ".join(result.output.split())


def test_list_shows_the_entries_at_80_columns(cli: CliRunner, filled: str) -> None:
    result = cli.invoke(app, ["audit", "list", "--db", filled, "--tenant", "acme"])

    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "openai:gpt-4o-mini" in result.output
    listed = json.loads(
        cli.invoke(app, ["audit", "list", "--db", filled, "--json", "-n", "2"]).output
    )
    assert [e["seq"] for e in listed] == [1, 2]


def test_an_export_is_signed_with_the_audit_key(
    cli: CliRunner, filled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "ledger.json"
    refused = cli.invoke(app, ["audit", "export", "--db", filled, "--out", str(out)])
    assert refused.exit_code == 2
    assert "ATOMIC_AUDIT_KEY" in refused.output

    monkeypatch.setenv("ATOMIC_AUDIT_KEY", "k" * 32)
    result = cli.invoke(app, ["audit", "export", "--db", filled, "--out", str(out)])
    assert result.exit_code == 0, result.output

    document = json.loads(out.read_text())
    assert len(document["entries"]) == ENTRIES
    assert document["chain"]["verified"] is True
    assert document["signature"]["algorithm"] == "HMAC-SHA256"
    assert verify_export(document, SecretStr("k" * 32))
    assert not verify_export(document, SecretStr("another key"))
    document["entries"][1]["byte_count"] += 1
    assert not verify_export(document, SecretStr("k" * 32))
