"""The store on a real SQLite file and a real PostgreSQL server: what goes in comes back out."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from atomic.errors import RunNotFoundError, StorageError
from atomic.storage import AttemptRecord, RunRecord, RunStatus, Store
from atomic.storage._migrate import (
    HEAD_REVISION,
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    schema_differences,
)

BASE_TIME = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(store_url)
    yield opened
    await opened.close()


def make_run(**changes: object) -> RunRecord:
    fields: dict[str, object] = {
        "task_name": "sentiment",
        "task_version": "1",
        "input": {"text": "hello"},
    }
    fields.update(changes)
    return RunRecord.model_validate(fields)


def make_attempt(run_id: str, index: int, **changes: object) -> AttemptRecord:
    fields: dict[str, object] = {
        "run_id": run_id,
        "index": index,
        "model_id": "fake:model",
        "strategy": "json_schema",
        "prompt": '[{"role": "user", "content": "hi"}]',
        "prompt_sha256": "ab" * 32,
    }
    fields.update(changes)
    return AttemptRecord.model_validate(fields)


async def test_run_with_attempts_round_trips_every_field(store: Store) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    run = make_run(
        tenant="acme",
        task_name="extract_invoice",
        task_version="2024-06-01.3",
        input={
            "text": "Grüße aus Köln 👋 — 請求書 «n°42»",
            "nested": {"amounts": [1, 2.5, None, True], "empty": {}, "none": None},
        },
        created_at=BASE_TIME.astimezone(india),
    )
    failed = make_attempt(
        run.id,
        0,
        raw_output='{"total": "forty-two"',
        parsed_output=None,
        validation_errors=["total: Input should be a valid number", "ünïcödé ✓"],
        input_tokens=812,
        output_tokens=17,
        cost_usd=0.1 + 0.2,
        price={"input_per_mtok": 0.15, "output_per_mtok": 0.6, "source": "card 2025-01"},
        latency_ms=1234.567,
        error_code="output.invalid",
        error_message="the output is not valid JSON: ‘unterminated’",
        created_at=BASE_TIME + timedelta(seconds=1),
    )
    succeeded = make_attempt(
        run.id,
        1,
        prompt=None,  # only the hash kept, as with ATOMIC_PROMPT_STORAGE=hash
        raw_output='{"total": 42, "items": []}',
        parsed_output={"total": 42, "items": [], "note": "😀", "flag": False, "zero": 0},
        input_tokens=900,
        output_tokens=12,
        cost_usd=1e-7,
        latency_ms=0.25,
        created_at=BASE_TIME + timedelta(seconds=2),
    )
    await store.start_run(run)
    # Out of order on purpose: the store returns attempts by index, not by insertion.
    await store.record_attempt(succeeded)
    await store.record_attempt(failed)
    run.status = RunStatus.SUCCEEDED
    run.output = {"total": 42, "items": [], "currency": "€"}
    run.input_tokens, run.output_tokens = 1712, 29
    run.cost_usd = failed.cost_usd + succeeded.cost_usd
    run.latency_ms = 1300.5
    run.finished_at = BASE_TIME + timedelta(seconds=3)
    await store.finish_run(run)

    got = await store.get_run(run.id, tenant="acme")

    assert got.attempts == [failed, succeeded]
    assert got == run.model_copy(update={"attempts": [failed, succeeded]})
    assert got.created_at.utcoffset() == timedelta(0)
    assert got.created_at == BASE_TIME
    assert got.attempts[0].parsed_output is None
    assert got.attempts[1].prompt is None
    assert got.attempts[0].cost_usd == 0.1 + 0.2


@pytest.mark.parametrize(
    "value", [None, "null", "", 0, 1.5, False, [], {}, ["a", None], {"k": {"k": [None]}}]
)
async def test_json_values_come_back_as_they_went_in(store: Store, value: object) -> None:
    run = make_run(output=value, status=RunStatus.SUCCEEDED)
    await store.start_run(run)
    await store.record_attempt(make_attempt(run.id, 0, parsed_output=value))

    got = await store.get_run(run.id)

    assert got.output == value
    assert type(got.output) is type(value)
    assert got.attempts[0].parsed_output == value
    assert type(got.attempts[0].parsed_output) is type(value)


async def test_start_run_stores_attempts_the_record_already_carries(store: Store) -> None:
    run = make_run()
    run.attempts = [make_attempt(run.id, 0), make_attempt(run.id, 1, raw_output="x")]

    await store.start_run(run)

    assert (await store.get_run(run.id)).attempts == run.attempts


async def test_a_new_run_reads_back_as_running_with_nothing_finished(store: Store) -> None:
    run = make_run()
    await store.start_run(run)

    got = await store.get_run(run.id)

    assert got.status is RunStatus.RUNNING
    assert got.finished_at is None
    assert got.output is None
    assert got.error is None
    assert got.attempts == []


async def test_finish_run_records_a_failure(store: Store) -> None:
    run = make_run()
    await store.start_run(run)
    run.status = RunStatus.FAILED
    run.model_id = "openai:gpt-4o-mini"
    run.error_code = "model.rate_limited"
    run.error = {"code": "model.rate_limited", "message": "slow down", "context": {"n": [1]}}
    run.input_tokens, run.output_tokens, run.cost_usd, run.latency_ms = 10, 0, 0.001, 55.5
    run.finished_at = BASE_TIME

    await store.finish_run(run)

    assert await store.get_run(run.id) == run


async def test_finish_run_of_an_unknown_run_raises(store: Store) -> None:
    with pytest.raises(RunNotFoundError, match="run_missing"):
        await store.finish_run(make_run(id="run_missing", status=RunStatus.SUCCEEDED))


async def test_finish_run_does_not_touch_another_tenants_run(store: Store) -> None:
    run = make_run(tenant="a")
    await store.start_run(run)

    with pytest.raises(RunNotFoundError):
        await store.finish_run(run.model_copy(update={"tenant": "b", "status": RunStatus.FAILED}))

    assert (await store.get_run(run.id, tenant="a")).status is RunStatus.RUNNING


async def test_get_run_of_a_missing_id_names_it_and_how_to_find_runs(store: Store) -> None:
    with pytest.raises(RunNotFoundError) as caught:
        await store.get_run("run_does_not_exist")

    assert "run_does_not_exist" in caught.value.message
    assert caught.value.hint is not None
    assert "atomic runs" in caught.value.hint
    assert caught.value.code == "run.not_found"
    assert caught.value.context["run_id"] == "run_does_not_exist"


async def test_runs_of_one_tenant_are_invisible_to_another(store: Store) -> None:
    mine = make_run(tenant="mine")
    theirs = make_run(tenant="theirs")
    await store.start_run(mine)
    await store.start_run(theirs)

    with pytest.raises(RunNotFoundError, match="theirs"):
        await store.get_run(mine.id, tenant="theirs")
    assert [r.id for r in await store.list_runs(tenant="mine")] == [mine.id]
    assert [r.id for r in await store.list_runs(tenant="theirs")] == [theirs.id]
    assert await store.list_runs() == []


async def test_list_runs_is_newest_first_limited_and_without_attempts(store: Store) -> None:
    runs = [make_run(created_at=BASE_TIME + timedelta(minutes=i)) for i in range(6)]
    shuffled = runs[:]
    random.Random(7).shuffle(shuffled)
    for run in shuffled:
        await store.start_run(run)
        await store.record_attempt(make_attempt(run.id, 0))

    listed = await store.list_runs(limit=4)

    assert [r.id for r in listed] == [r.id for r in reversed(runs)][:4]
    assert all(r.attempts == [] for r in listed)
    assert listed[0] == runs[-1]
    assert len(await store.list_runs()) == 6
    assert await store.list_runs(limit=0) == []


async def test_list_runs_orders_across_time_zones(store: Store) -> None:
    # 12:30 in New York is later than 14:00 in UTC the same day.
    utc_run = make_run(created_at=datetime(2025, 3, 1, 14, 0, tzinfo=UTC))
    ny_run = make_run(created_at=datetime(2025, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=-5))))
    await store.start_run(ny_run)
    await store.start_run(utc_run)

    assert [r.id for r in await store.list_runs()] == [ny_run.id, utc_run.id]


async def test_list_runs_filters_by_task(store: Store) -> None:
    a = make_run(task_name="a", created_at=BASE_TIME)
    b = make_run(task_name="b", created_at=BASE_TIME + timedelta(seconds=1))
    a2 = make_run(task_name="a", created_at=BASE_TIME + timedelta(seconds=2))
    for run in (a, b, a2):
        await store.start_run(run)

    assert [r.id for r in await store.list_runs(task_name="a")] == [a2.id, a.id]
    assert [r.id for r in await store.list_runs(task_name="b")] == [b.id]
    assert await store.list_runs(task_name="c") == []


async def test_list_runs_rejects_a_negative_limit(store: Store) -> None:
    with pytest.raises(ValueError, match="-1"):
        await store.list_runs(limit=-1)


async def test_storing_a_run_id_twice_is_a_storage_error(store: Store) -> None:
    run = make_run()
    await store.start_run(run)

    with pytest.raises(StorageError, match=run.id) as caught:
        await store.start_run(run)
    assert caught.value.hint is not None
    assert "once" in caught.value.hint


async def test_an_attempt_of_a_run_never_started_is_a_storage_error(store: Store) -> None:
    with pytest.raises(StorageError, match="run_never_started") as caught:
        await store.record_attempt(make_attempt("run_never_started", 0))
    assert caught.value.hint is not None
    assert "start_run" in caught.value.hint


async def test_concurrent_writes_are_all_kept(store: Store) -> None:
    runs = [make_run(created_at=BASE_TIME + timedelta(seconds=i)) for i in range(24)]

    async def write(run: RunRecord) -> None:
        await store.start_run(run)
        await store.record_attempt(make_attempt(run.id, 0))
        await store.finish_run(run.model_copy(update={"status": RunStatus.SUCCEEDED}))

    await asyncio.gather(*(write(run) for run in runs))

    listed = await store.list_runs(limit=100)
    assert {r.id for r in listed} == {r.id for r in runs}
    assert all(r.status is RunStatus.SUCCEEDED for r in listed)


async def test_migrations_are_idempotent(store_url: str) -> None:
    first = await Store.open(store_url)
    run = make_run()
    await first.start_run(run)
    await first.close()

    second = await Store.open(store_url)
    try:
        assert await current_revision(second.engine) == head_revision()
        assert await second.get_run(run.id) == run
    finally:
        await second.close()


async def test_stores_opening_a_new_database_at_once_migrate_it_once(store_url: str) -> None:
    stores = await asyncio.gather(*(Store.open(store_url) for _ in range(3)))
    try:
        assert [await current_revision(s.engine) for s in stores] == [head_revision()] * 3
    finally:
        for opened in stores:
            await opened.close()


async def test_migration_creates_exactly_the_declared_tables(store: Store) -> None:
    assert await schema_differences(store.engine) == []

    async with store.engine.connect() as connection:
        tables, indexes = await connection.run_sync(
            lambda sync: (
                set(inspect(sync).get_table_names()),
                {i["name"] for i in inspect(sync).get_indexes("runs")},
            )
        )
    assert tables == {
        "runs",
        "attempts",
        "auctions",
        "outcomes",
        "learner_states",
        "feedback",
        "memory_examples",
        "adaptation_states",
        "api_keys",
        "idempotency_keys",
        "classifiers",
        "rate_windows",
        "egress_ledger",
        "run_examples",
        "atomic_alembic_version",
    }
    assert indexes == {"ix_runs_tenant_created_at", "ix_runs_task_name", "ix_runs_status"}


async def test_migration_downgrades_and_upgrades_again(store: Store) -> None:
    config = alembic_config(store.url)

    def migrate(connection: Connection, revision: str) -> list[str]:
        config.attributes["connection"] = connection
        if revision == "base":
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)
        return inspect(connection).get_table_names()

    async with store.engine.begin() as connection:
        assert await connection.run_sync(migrate, "base") == ["atomic_alembic_version"]
    async with store.engine.begin() as connection:
        await connection.run_sync(migrate, "head")
    assert await schema_differences(store.engine) == []


async def test_a_database_from_a_newer_atomic_is_a_storage_error(store_url: str) -> None:
    store = await Store.open(store_url)
    async with store.engine.begin() as connection:
        await connection.execute(text("UPDATE atomic_alembic_version SET version_num = '9999'"))
    await store.close()

    with pytest.raises(StorageError, match="9999") as caught:
        await Store.open(store_url)

    assert caught.value.hint is not None
    assert "newer Atomic" in caught.value.hint


def test_migration_scripts_are_found_inside_the_package() -> None:
    assert MIGRATIONS_DIR.parent.name == "storage"
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert head_revision() == HEAD_REVISION == "0009"


async def test_without_migrating_an_empty_database_says_how_to_fix_it(store_url: str) -> None:
    store = await Store.open(store_url, migrate=False)
    try:
        assert await current_revision(store.engine) is None
        with pytest.raises(StorageError) as caught:
            await store.list_runs()
        assert caught.value.hint is not None
        assert "migrate=True" in caught.value.hint
    finally:
        await store.close()


async def test_a_sqlite_store_persists_across_reopening(tmp_path: Path) -> None:
    (tmp_path / "nested" / "folders").mkdir(parents=True)
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'folders' / 'atomic.db'}"
    store = await Store.open(url)
    run = make_run(output={"kept": True}, status=RunStatus.SUCCEEDED)
    await store.start_run(run)
    await store.record_attempt(make_attempt(run.id, 0))
    await store.close()

    reopened = await Store.open(url)
    try:
        got = await reopened.get_run(run.id)
    finally:
        await reopened.close()

    assert got.output == {"kept": True}
    assert len(got.attempts) == 1
    assert (tmp_path / "nested" / "folders" / "atomic.db").is_file()


async def test_a_sqlite_folder_that_does_not_exist_is_named_not_created(tmp_path: Path) -> None:
    folder = tmp_path / "nonexistent" / "dir"
    with pytest.raises(StorageError) as caught:
        await Store.open(f"sqlite:///{folder / 'a.db'}")
    assert f"the folder {str(folder)!r}" in caught.value.message
    assert "does not exist" in caught.value.message
    assert not (tmp_path / "nonexistent").exists()


async def test_sqlite_uses_wal_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'atomic.db'}")  # plain URL: driver added
    try:
        async with store.engine.connect() as connection:
            pragmas = [
                (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            ]
    finally:
        await store.close()

    assert pragmas[0] == "wal"
    assert pragmas[1] > 0
    assert pragmas[2] == 1
    assert store.url.startswith("sqlite+aiosqlite:///")


async def test_an_in_memory_sqlite_store_works() -> None:
    store = await Store.open("sqlite+aiosqlite://")
    try:
        run = make_run()
        await store.start_run(run)
        assert await store.get_run(run.id) == run
    finally:
        await store.close()


async def test_an_unwritable_sqlite_location_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = blocker / "atomic.db"

    with pytest.raises(StorageError) as caught:
        await Store.open(f"sqlite+aiosqlite:///{path}")

    assert str(blocker) in caught.value.message
    assert caught.value.hint is not None
    assert "ATOMIC_DATABASE_URL" in caught.value.hint


async def test_a_folder_in_place_of_the_sqlite_file_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "atomic.db").mkdir()

    with pytest.raises(StorageError) as caught:
        await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'atomic.db'}")

    assert str(tmp_path / "atomic.db") in caught.value.message
    assert caught.value.hint is not None
    assert "write" in caught.value.hint


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_postgres_is_a_storage_error_without_the_password() -> None:
    port = _closed_port()
    url = f"postgresql+psycopg://someone:s3cret-pw@127.0.0.1:{port}/atomic"

    with pytest.raises(StorageError) as caught:
        await Store.open(url)

    error = caught.value
    assert error.code == "storage.error"
    assert "s3cret-pw" not in str(error)
    assert "s3cret-pw" not in repr(error.to_dict())
    assert f"postgresql+psycopg://someone:***@127.0.0.1:{port}/atomic" in error.message
    assert error.hint is not None
    assert f"127.0.0.1:{port}" in error.hint
    assert "ATOMIC_DATABASE_URL" in error.hint


@pytest.mark.postgres
async def test_a_missing_postgres_database_is_named_in_the_error(postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/no_such_database"

    with pytest.raises(StorageError, match="no_such_database") as caught:
        await Store.open(url)  # plain postgresql:// gets the psycopg driver

    assert caught.value.hint is not None
    assert "exists" in caught.value.hint


@pytest.mark.postgres
async def test_the_printable_url_masks_the_password(fresh_postgres_url: str) -> None:
    password = fresh_postgres_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    store = await Store.open(fresh_postgres_url)
    try:
        assert password not in store.url
        assert "***" in store.url
        assert store.url.startswith("postgresql+psycopg://")
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("url", "named"),
    [("mysql://root@localhost/atomic", "mysql"), ("not a url at all", "not a url at all")],
)
async def test_an_unsupported_url_is_a_storage_error(url: str, named: str) -> None:
    with pytest.raises(StorageError, match=named) as caught:
        await Store.open(url)
    assert caught.value.hint is not None
    assert "sqlite:///" in caught.value.hint
