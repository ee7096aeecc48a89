"""The egress ledger: appended before task data leaves for a non-local model, read back whole.

One chain for the whole database. An append takes the chain's lock, reads the head, and
inserts the next entry in the same transaction, so concurrent writers in any number of
processes never fork it: SQLite's ``BEGIN IMMEDIATE`` takes the database's write lock up
front; PostgreSQL takes a transaction-scoped advisory lock. ``seq`` is the primary key as
well, so a writer that somehow raced would fail rather than fork the chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from atomic.audit._entry import GENESIS_HASH, EgressEntry, entry_hash
from atomic.audit._export import export_document
from atomic.audit._scope import current_scope
from atomic.audit._verify import ChainReport, verify_chain
from atomic.errors import StorageError
from atomic.storage import utcnow
from atomic.storage._tables import EgressEntryRow

if TYPE_CHECKING:
    # Only its type: importing the adapter would bring httpx to processes without one.
    from atomic.models._openai import Egress

__all__ = ["EgressLedger", "EgressNotRecordedError", "entries_json"]

_PG_LOCK_KEY = 0x61746F6D6963_01
"""The advisory lock of the chain's head ("atomic" in ASCII, then 01)."""

_OUTSIDE_A_RUN = (
    "no task policy known: the request was made outside Atomic.run (the model called directly)"
)


class EgressNotRecordedError(StorageError):
    """The ledger could not record a request, so the request was not sent."""

    code = "audit.not_recorded"


class EgressLedger:
    """Appends and reads egress entries in Atomic's database (SQLite or PostgreSQL).

    It is the :class:`atomic.models.EgressRecorder` that ``Atomic`` gives its non-local
    OpenAI-compatible models: :meth:`before_egress` writes the entry (tenant, run and policy
    from the current :func:`atomic.audit.egress_scope`) and raises if it cannot.
    """

    def __init__(self, engine: AsyncEngine, *, tenant: str = "default") -> None:
        self.engine = engine
        self.tenant = tenant
        """The tenant of a request that names none, outside any run."""
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # On SQLite, the write lock is taken at BEGIN: the head read is the head written after.
        self._locking = async_sessionmaker(
            engine.execution_options(atomic_sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )

    async def before_egress(self, egress: Egress) -> None:
        await self.append(egress)

    async def append(self, egress: Egress) -> EgressEntry:
        """Record ``egress`` as the chain's next entry; raise :class:`EgressNotRecordedError`
        (and the caller does not send) if it cannot be written."""
        scope = current_scope()
        fields: dict[str, Any] = {
            "created_at": utcnow(),
            "tenant": egress.tenant or (scope.tenant if scope else self.tenant),
            "run_id": scope.run_id if scope else None,
            "task_name": scope.task_name if scope else None,
            "model_id": egress.model_id,
            "endpoint_host": egress.endpoint_host,
            "residency": egress.residency.value,
            "region": egress.region,
            "policy_version": scope.policy_version if scope else None,
            "rule": scope.rule(egress.residency.value) if scope else _OUTSIDE_A_RUN,
            "byte_count": len(egress.payload),
            "payload_sha256": hashlib.sha256(egress.payload).hexdigest(),
            # Nothing is redacted or withheld yet: every input field goes in the prompt.
            "fields_sent": sorted(egress.task_input or {}),
            "fields_redacted": [],
            "fields_withheld": [],
        }
        try:
            async with self._locking.begin() as session:
                await self._lock_chain(session)
                head = (
                    await session.execute(
                        select(EgressEntryRow.seq, EgressEntryRow.entry_hash)
                        .order_by(EgressEntryRow.seq.desc())
                        .limit(1)
                    )
                ).first()
                fields["seq"] = head.seq + 1 if head else 1
                fields["prev_hash"] = head.entry_hash if head else GENESIS_HASH
                fields["entry_hash"] = entry_hash(fields)
                session.add(EgressEntryRow(**fields))
        except (SQLAlchemyError, OSError) as exc:
            raise _not_recorded(egress, fields, exc) from exc
        return EgressEntry(**fields)

    async def _lock_chain(self, session: AsyncSession) -> None:
        if self.engine.dialect.name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})

    async def entries(
        self,
        *,
        tenant: str | None = None,
        run_id: str | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[EgressEntry]:
        """Entries in chain order, from ``seq`` ``after + 1``; only ``tenant``'s or
        ``run_id``'s when given."""
        statement = select(EgressEntryRow).where(EgressEntryRow.seq > after)
        if tenant is not None:
            statement = statement.where(EgressEntryRow.tenant == tenant)
        if run_id is not None:
            statement = statement.where(EgressEntryRow.run_id == run_id)
        statement = statement.order_by(EgressEntryRow.seq)
        if limit is not None:
            statement = statement.limit(limit)
        try:
            async with self._sessions() as session:
                rows = (await session.execute(statement)).scalars().all()
        except (SQLAlchemyError, OSError) as exc:
            raise _unreadable(self.engine, exc) from exc
        return [_entry(row) for row in rows]

    async def chain(self, *, page: int = 1000) -> AsyncIterator[EgressEntry]:
        """Every entry in chain order, read a page at a time."""
        after = 0
        while True:
            found = await self.entries(after=after, limit=page)
            for entry in found:
                yield entry
            if len(found) < page:
                return
            after = found[-1].seq

    async def verify(self) -> ChainReport:
        """Check the whole chain (see :func:`atomic.audit.verify_chain`)."""
        return await verify_chain(self.chain())

    async def export(self, key: SecretStr | None, *, tenant: str | None = None) -> dict[str, Any]:
        """A signed export of the chain (``tenant``'s entries only, when given), with the
        chain's state as verified now."""
        report = await self.verify()
        return export_document(await self.entries(tenant=tenant), report, key, tenant=tenant)


def _entry(row: EgressEntryRow) -> EgressEntry:
    values = {column.key: getattr(row, column.key) for column in EgressEntryRow.__table__.columns}
    return EgressEntry.model_validate(values)


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__


def _not_recorded(egress: Egress, fields: dict[str, Any], exc: BaseException) -> StorageError:
    reason = _reason(exc)
    return EgressNotRecordedError(
        f"the egress ledger could not record a request to {egress.model_id} at "
        f"{egress.endpoint_host} ({egress.residency.value}), so it was not sent: {reason}",
        hint="check that the database (ATOMIC_DATABASE_URL) is reachable, writable and "
        "migrated to 0008 or later (Atomic migrates it when it opens); task data goes to a "
        "non-local model only once it is recorded",
        context={
            "model_id": egress.model_id,
            "endpoint_host": egress.endpoint_host,
            "run_id": fields.get("run_id"),
            "reason": reason,
        },
    )


def _unreadable(engine: AsyncEngine, exc: BaseException) -> StorageError:
    masked = engine.url.render_as_string(hide_password=True)
    reason = _reason(exc)
    return StorageError(
        f"could not read the egress ledger at {masked}: {reason}",
        hint="check that the database is reachable and migrated (open it once with Atomic, "
        "or `atomic runs`, to migrate it)",
        context={"url": masked, "reason": reason},
    )


def entries_json(entries: Sequence[EgressEntry]) -> list[dict[str, Any]]:
    """Entries as JSON data, as the CLI and the service print them."""
    return [e.model_dump(mode="json") for e in entries]
