"""The store's database engine: URLs to async drivers, SQLite's pragmas and locking, and the
errors a user can hit opening a database, each saying what to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from atomic.errors import StorageError

__all__ = ["create_engine", "is_alembic_error", "storage_error"]

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}
_SQLITE_BUSY_TIMEOUT_MS = 30_000
_PG_CONNECT_TIMEOUT_S = 10
_URL_HINT = "set ATOMIC_DATABASE_URL to sqlite:///path/to/atomic.db or postgresql://user@host/db"


def create_engine(url: str) -> AsyncEngine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(
            f"{url!r} is not a database URL",
            hint=_URL_HINT,
            context={"url": url},
        ) from exc
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise StorageError(
            f"the store supports SQLite and PostgreSQL, not {parsed.drivername!r} "
            f"({parsed.render_as_string(hide_password=True)})",
            hint=_URL_HINT,
            context={"url": parsed.render_as_string(hide_password=True)},
        )
    parsed = parsed.set(drivername=driver)
    try:
        if driver.startswith("sqlite"):
            return _create_sqlite_engine(parsed)
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            # libpq waits forever for a host that drops packets; a store should say so instead.
            connect_args["connect_timeout"] = _PG_CONNECT_TIMEOUT_S
        return create_async_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise storage_error(parsed, "create a database engine", exc) from exc


def _create_sqlite_engine(url: URL) -> AsyncEngine:
    database = url.database or ""
    in_memory = database in ("", ":memory:")
    if not in_memory and not database.startswith("file:"):
        # A folder that does not exist is a typo far more often than a wish: creating it would
        # hand back an empty database that says "no runs yet". (The default home is created by
        # AtomicSettings.resolved_database_url.)
        folder = Path(database).expanduser().parent
        if not folder.is_dir():
            shown = url.render_as_string(hide_password=True)
            raise StorageError(
                f"the folder {str(folder)!r} of the SQLite database {shown} does not exist",
                hint=f"create it (mkdir -p {folder}) or fix the path in ATOMIC_DATABASE_URL / "
                "--db (four slashes for an absolute path: sqlite:////abs/path/atomic.db)",
                context={"url": shown, "folder": str(folder)},
            )
    # An in-memory database lives in one connection: share it, or each query sees an empty one.
    pool: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {}
    engine = create_async_engine(url, **pool)
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit transactions skip DDL and cannot take the write lock up front;
    # `_on_sqlite_begin` issues BEGIN itself instead (SQLAlchemy's documented aiosqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        _enable_wal(cursor)
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    # WAL is a property of the file, set once by whichever connection gets there first. The
    # switch needs the file to itself and SQLite answers "database is locked" at once, busy
    # timeout or not, when another connection is switching it (several stores opening a new
    # file together): that connection's switch serves this one too, so the error is moot.
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise


def _on_sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get("atomic_sqlite_begin", "")
    connection.exec_driver_sql(f"BEGIN {mode}".rstrip())


def storage_error(url: URL, action: str, exc: BaseException) -> StorageError:
    masked = url.render_as_string(hide_password=True)
    reason = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
    reason = reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__
    return StorageError(
        f"could not {action} at {masked}: {reason}",
        hint=_hint(url, exc, reason),
        context={"url": masked, "action": action, "reason": reason},
    )


def _hint(url: URL, exc: BaseException, reason: str) -> str:
    lowered = reason.lower()
    if is_alembic_error(exc):
        return (
            "the database was migrated by a newer Atomic: upgrade atomic, "
            "or point ATOMIC_DATABASE_URL at another database"
        )
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return "the database has no Atomic tables yet: open it with Store.open(url, migrate=True)"
    if isinstance(exc, IntegrityError):
        return (
            "each run id and attempt index is stored once, and a run must be started "
            "(Store.start_run) before its attempts are recorded"
        )
    if url.get_backend_name() == "sqlite":
        if "locked" in lowered or "busy" in lowered:
            return (
                "another process held the SQLite write lock too long; retry, "
                "or use PostgreSQL for many concurrent writers"
            )
        return (
            f"check that {url.database!r} is a file you can write to, in a folder you can "
            "write to; ATOMIC_HOME or ATOMIC_DATABASE_URL choose another location"
        )
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    return (
        f"check that PostgreSQL is running and accepts connections at {where}, that the "
        f"database {url.database!r} exists and that user {url.username!r} may log in; "
        "ATOMIC_DATABASE_URL sets the URL"
    )


def is_alembic_error(exc: BaseException) -> bool:
    # By module rather than by class: importing Alembic to name its error would cost every
    # process that never migrates most of a second.
    return type(exc).__module__.startswith("alembic.")
