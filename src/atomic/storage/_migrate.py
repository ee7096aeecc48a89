"""Schema migrations run from code: Alembic, with the scripts shipped inside the package.

No ``alembic.ini`` is needed: the configuration is built here and the scripts are found next to
this file, so the same code works from a checkout and from an installed wheel.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from atomic.storage._tables import Base

if TYPE_CHECKING:
    # Alembic takes most of a second to import: only a store that needs migrating loads it.
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "schema_differences",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

HEAD_REVISION = "0009"
"""The newest shipped migration (a test checks it against the scripts): a database already
there opens without importing Alembic."""

# Not Alembic's default `alembic_version`: a PostgreSQL database given by URL may already hold
# the user's own application and its own migration history.
VERSION_TABLE = "atomic_alembic_version"

# Any constant works; it only has to be the same for every process migrating one database.
_PG_LOCK_KEY = 0x61746F6D6963  # "atomic"

# Alembic keeps the running migration in module globals (`alembic.context`), so two upgrades
# interleaving on one event loop would corrupt each other: they take turns, one lock per loop.
_alembic_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _alembic_turn() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _alembic_turns.get(loop)
    if lock is None:
        lock = _alembic_turns[loop] = asyncio.Lock()
    return lock


def alembic_config(url: str) -> Config:
    """An Alembic configuration for the store at ``url``, pointing at the shipped scripts."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The configuration is a ConfigParser: a literal `%` (URL-encoded passwords) must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision the shipped scripts know."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` up to ``revision`` (the newest by default).

    Runs in one transaction under a lock, so two processes opening a new database at once
    migrate it once: the second waits, then finds it already at head.
    """
    if revision == "head" and await _recorded_revision(engine) == HEAD_REVISION:
        return
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    async with _alembic_turn(), engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Taken by the `begin` hook in `_store`: the write lock from the first statement on.
            connection = await connection.execution_options(atomic_sqlite_begin="IMMEDIATE")
        async with connection.begin():
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            await connection.run_sync(_upgrade, config, revision)


async def _recorded_revision(engine: AsyncEngine) -> str | None:
    """The version table's revision, read with plain SQL; ``None`` if there is none."""
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            rows = result.scalars().all()
    except SQLAlchemyError:  # no version table yet: a new database
        return None
    return str(rows[0]) if len(rows) == 1 else None


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    from alembic import command

    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _migration_context(connection: Connection) -> MigrationContext:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
    )


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or ``None`` if it was never migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: _migration_context(sync).get_current_revision()
        )


async def schema_differences(engine: AsyncEngine) -> list[Any]:
    """What differs between the database's schema and the declared tables (empty when equal)."""
    from alembic.autogenerate import compare_metadata

    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: list(compare_metadata(_migration_context(sync), Base.metadata))
        )
