"""The store: every run and every attempt, written before the caller sees a result."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, cast

from pydantic_core import to_jsonable_python
from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import (
    SQLAlchemyError,
)
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)
from sqlalchemy.orm import selectinload

from atomic.errors import RunNotFoundError
from atomic.storage._adaptation_ledger import AdaptationLedger
from atomic.storage._engine import create_engine, is_alembic_error, storage_error
from atomic.storage._ledger import (
    LearnerMerge,
    LearnerStates,
    auction_row,
    example_rows,
    learner_rows,
    outcome_record,
    outcome_row,
    upsert,
)
from atomic.storage._migrate import upgrade
from atomic.storage._records import AttemptRecord, OutcomeRecord, RunRecord, RunStatus, utcnow
from atomic.storage._run_ledger import RunLedger
from atomic.storage._tables import AttemptRow, AuctionRow, LearnerStateRow, OutcomeRow, RunRow

__all__ = ["Store"]

_LEARNER_KEYS = ["tenant", "task_name", "model_id"]


class Store(AdaptationLedger, RunLedger):
    """Runs and their attempts in SQLite or PostgreSQL, behind one async repository.

    ```python
    store = await Store.open("sqlite+aiosqlite:///atomic.db")
    await store.start_run(run)
    ...
    print(await store.list_runs(limit=5))
    await store.close()
    ```

    Every write is committed before the method returns. Database failures a user can hit
    (an unreachable server, an unwritable path) raise :class:`atomic.errors.StorageError`.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        """Wrap an engine as it is; :meth:`open` is the usual way in."""
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # Read-modify-write transactions: on SQLite they take the write lock at BEGIN, so two
        # processes cannot both read a state and then one fail to upgrade its lock.
        self._locking_sessions = async_sessionmaker(
            engine.execution_options(atomic_sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to the database at ``url`` and, unless ``migrate=False``, migrate it to head.

        ``url`` is an async SQLAlchemy URL (``sqlite+aiosqlite:///path`` or
        ``postgresql+psycopg://user:pw@host/db``); plain ``sqlite://`` and ``postgresql://`` URLs
        get those drivers. A SQLite file's folder is created if missing.
        """
        engine = create_engine(url)
        store = cls(engine)
        try:
            async with store._translate_errors("open the store"):
                async with engine.connect():
                    pass
                if migrate:
                    await upgrade(engine)
                    # Runs whose process died since the last look are found here.
                    await store.reap_abandoned()
        except BaseException:
            await engine.dispose()
            raise
        return store

    @property
    def url(self) -> str:
        """The database URL with any password masked, safe to print."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> AsyncEngine:
        """The one SQLAlchemy engine behind this store (for migration tooling and tests)."""
        return self._engine

    async def close(self) -> None:
        """Close every pooled connection; call it once the store is no longer needed."""
        await self._engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start_run(self, run: RunRecord, *, auction: dict[str, Any] | None = None) -> None:
        """Insert a new run (and any attempts it already carries), with its auction record:
        a run is never stored without the auction that chose its model."""
        async with self._translate_errors(f"record run {run.id!r}"), self._sessions.begin() as s:
            s.add(_run_row(run))
            if auction is not None:
                # Flushed before the auction, which refers to the run.
                await s.flush()
                s.add(auction_row(run, auction))
                s.add_all(example_rows(run, auction))
            s.add_all(_attempt_row(attempt) for attempt in run.attempts)

    async def record_attempt(self, attempt: AttemptRecord) -> None:
        """Insert one attempt of a run already started with :meth:`start_run`."""
        action = f"record attempt {attempt.index} of run {attempt.run_id!r}"
        async with self._translate_errors(action), self._sessions.begin() as session:
            session.add(_attempt_row(attempt))

    async def finish_run(
        self,
        run: RunRecord,
        *,
        attempts: Sequence[AttemptRecord] = (),
        auction: dict[str, Any] | None = None,
        outcome: OutcomeRecord | None = None,
        learner_states: LearnerStates = (),
        learning: LearnerMerge | None = None,
    ) -> None:
        """Write a run's outcome: status, model, output or error, usage, cost and timings;
        with, in the same transaction, attempts not yet recorded, its final auction record,
        the outcome the learner counted, and what the learner learned (``learning``, applied
        to the stored state under a row lock, so concurrent processes lose nothing)."""
        statement = (
            update(RunRow)
            .where(RunRow.id == run.id, RunRow.tenant == run.tenant)
            .values(
                status=RunStatus(run.status).value,
                model_id=run.model_id,
                output=_jsonable(run.output),
                error_code=run.error_code,
                error=_jsonable(run.error),
                input_tokens=run.input_tokens,
                output_tokens=run.output_tokens,
                cost_usd=run.cost_usd,
                latency_ms=run.latency_ms,
                finished_at=run.finished_at,
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        sessions = self._locking_sessions if learning is not None else self._sessions
        async with self._translate_errors(f"finish run {run.id!r}"), sessions.begin() as s:
            if learning is not None:
                # Learner rows first: the lock is taken before anything else is written.
                await self._merge_learning(s, learning)
            result = cast(CursorResult[Any], await s.execute(statement))
            if result.rowcount == 0:
                raise _run_not_found(run.id, run.tenant)
            s.add_all(_attempt_row(attempt) for attempt in attempts)
            if auction is not None:
                await s.execute(
                    update(AuctionRow)
                    .where(AuctionRow.run_id == run.id)
                    .values(record=to_jsonable_python(auction))
                    .execution_options(synchronize_session=False)
                )
            await s.flush()
            await self._upsert_ledger(s, outcome, learner_states)

    async def record_run(
        self,
        run: RunRecord,
        *,
        attempts: Sequence[AttemptRecord] = (),
        auction: dict[str, Any] | None = None,
    ) -> None:
        """Insert a run that is already over (a refused call), with its auction, at once."""
        async with self._translate_errors(f"record run {run.id!r}"), self._sessions.begin() as s:
            s.add(_run_row(run))
            await s.flush()
            if auction is not None:
                s.add(auction_row(run, auction))
                s.add_all(example_rows(run, auction))
            s.add_all(_attempt_row(attempt) for attempt in attempts)

    @property
    def _dialect(self) -> str:
        return self._engine.dialect.name

    async def _merge_learning(self, session: AsyncSession, learning: LearnerMerge) -> None:
        keys = sorted(set(learning.keys))
        if not keys:
            return
        table = cast(Table, LearnerStateRow.__table__)
        now = utcnow()
        if self._dialect == "postgresql":
            # A row to lock must exist: insert missing ones (a no-op for existing ones, which
            # waits for a concurrent insert of the same key to commit), then lock them all.
            placeholders = [
                {"tenant": t, "task_name": k, "model_id": m, "state": {}, "updated_at": now}
                for t, k, m in keys
            ]
            await session.execute(
                postgresql.insert(table).values(placeholders).on_conflict_do_nothing()
            )
        # On SQLite the transaction began IMMEDIATE: it holds the write lock already.
        wanted = or_(
            *(
                and_(
                    LearnerStateRow.tenant == t,
                    LearnerStateRow.task_name == k,
                    LearnerStateRow.model_id == m,
                )
                for t, k, m in keys
            )
        )
        statement = select(
            LearnerStateRow.tenant,
            LearnerStateRow.task_name,
            LearnerStateRow.model_id,
            LearnerStateRow.state,
        ).where(wanted)
        if self._dialect == "postgresql":
            statement = statement.with_for_update()
        stored = {(t, k, m): state for t, k, m, state in (await session.execute(statement)).all()}
        merged = learning.merge(stored)
        await session.execute(
            upsert(self._dialect, table, learner_rows(list(merged.items())), _LEARNER_KEYS)
        )

    async def _upsert_ledger(
        self, session: AsyncSession, outcome: OutcomeRecord | None, states: LearnerStates
    ) -> None:
        dialect = self._dialect
        if outcome is not None:
            table = cast(Table, OutcomeRow.__table__)
            await session.execute(upsert(dialect, table, [outcome_row(outcome)], ["run_id"]))
        if states:
            table = cast(Table, LearnerStateRow.__table__)
            await session.execute(upsert(dialect, table, learner_rows(states), _LEARNER_KEYS))

    async def get_auction(self, run_id: str, *, tenant: str = "default") -> dict[str, Any]:
        """The auction record of a run, as stored."""
        statement = select(AuctionRow.record).where(
            AuctionRow.run_id == run_id, AuctionRow.tenant == tenant
        )
        async with self._translate_errors(f"read the auction of {run_id!r}"), self._sessions() as s:
            record = (await s.execute(statement)).scalar_one_or_none()
        if record is None:
            raise RunNotFoundError(
                f"run {run_id!r} of tenant {tenant!r} has no auction record",
                hint="`atomic runs` lists runs; runs that failed before an auction have none",
                context={"run_id": run_id, "tenant": tenant},
            )
        return cast(dict[str, Any], record)

    async def get_outcome(self, run_id: str, *, tenant: str = "default") -> OutcomeRecord | None:
        """The outcome the learner counted for a run, if any."""
        statement = select(OutcomeRow).where(
            OutcomeRow.run_id == run_id, OutcomeRow.tenant == tenant
        )
        async with self._translate_errors(f"read the outcome of {run_id!r}"), self._sessions() as s:
            row = (await s.execute(statement)).scalar_one_or_none()
            return None if row is None else outcome_record(row)

    async def save_outcome(
        self, outcome: OutcomeRecord, *, learner_states: LearnerStates = ()
    ) -> None:
        """Replace a run's counted outcome, with the learner's changed posteriors."""
        action = f"record the outcome of {outcome.run_id!r}"
        async with self._translate_errors(action), self._sessions.begin() as session:
            await self._upsert_ledger(session, outcome, learner_states)

    async def save_learner_states(self, learner_states: LearnerStates) -> None:
        async with self._translate_errors("save learner state"), self._sessions.begin() as s:
            await self._upsert_ledger(s, None, learner_states)

    async def load_learner_states(
        self, *, tenant: str | None = None, since: datetime | None = None
    ) -> list[tuple[tuple[str, str, str], dict[str, Any]]]:
        """Every persisted posterior (of one tenant, or all; changed after ``since``)."""
        statement = select(LearnerStateRow)
        if tenant is not None:
            statement = statement.where(LearnerStateRow.tenant == tenant)
        if since is not None:
            statement = statement.where(LearnerStateRow.updated_at > since)
        async with self._translate_errors("load learner state"), self._sessions() as session:
            rows = (await session.execute(statement)).scalars().all()
            return [((r.tenant, r.task_name, r.model_id), r.state) for r in rows]

    async def get_run(self, run_id: str, *, tenant: str = "default") -> RunRecord:
        """The run ``run_id`` of ``tenant``, with its attempts in order."""
        statement = (
            select(RunRow)
            .where(RunRow.id == run_id, RunRow.tenant == tenant)
            .options(selectinload(RunRow.attempts))
        )
        async with self._translate_errors(f"read run {run_id!r}"), self._sessions() as session:
            row = (await session.execute(statement)).scalar_one_or_none()
            if row is None:
                raise _run_not_found(run_id, tenant)
            return _run_record(row, [_attempt_record(a) for a in row.attempts])

    async def list_runs(
        self,
        *,
        tenant: str = "default",
        limit: int = 20,
        task_name: str | None = None,
        model_id: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        before: str | None = None,
    ) -> list[RunRecord]:
        """Up to ``limit`` runs of ``tenant``, newest first; their ``attempts`` are not loaded.

        Filters: ``task_name``, ``model_id`` (the model that served it), ``status`` (any status
        string), ``since`` (created at or after). ``before`` is a cursor: the id of the last run
        of the previous page; the page starts after it.
        """
        if limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        await self.reap_abandoned()
        statement = select(RunRow).where(RunRow.tenant == tenant)
        if task_name is not None:
            statement = statement.where(RunRow.task_name == task_name)
        if model_id is not None:
            statement = statement.where(RunRow.model_id == model_id)
        if status is not None:
            statement = statement.where(RunRow.status == status)
        if since is not None:
            statement = statement.where(RunRow.created_at >= since)
        if before is not None:
            cursor = (
                select(RunRow.created_at)
                .where(RunRow.id == before, RunRow.tenant == tenant)
                .scalar_subquery()
            )
            statement = statement.where(
                (RunRow.created_at < cursor)
                | ((RunRow.created_at == cursor) & (RunRow.id < before))
            )
        # The id breaks ties between runs created in the same microsecond; it sorts by time too.
        statement = statement.order_by(RunRow.created_at.desc(), RunRow.id.desc()).limit(limit)
        async with self._translate_errors("list runs"), self._sessions() as session:
            rows = (await session.execute(statement)).scalars().all()
            return [_run_record(row, []) for row in rows]

    @asynccontextmanager
    async def _translate_errors(self, action: str) -> AsyncIterator[None]:
        try:
            yield
        except (SQLAlchemyError, OSError) as exc:
            raise storage_error(self._engine.url, action, exc) from exc
        except Exception as exc:
            if not is_alembic_error(exc):
                raise
            raise storage_error(self._engine.url, action, exc) from exc


def _run_not_found(run_id: str, tenant: str) -> RunNotFoundError:
    return RunNotFoundError(
        f"no run {run_id!r} in tenant {tenant!r}",
        hint="`atomic runs` lists the recent runs and their ids",
        context={"run_id": run_id, "tenant": tenant},
    )


def _jsonable(value: Any) -> Any:
    # Outputs may hold values json.dumps rejects (datetimes, enums, models); store their JSON form.
    return to_jsonable_python(value)


def _run_row(run: RunRecord) -> RunRow:
    return RunRow(
        id=run.id,
        tenant=run.tenant,
        task_name=run.task_name,
        task_version=run.task_version,
        input=_jsonable(run.input),
        status=RunStatus(run.status).value,
        model_id=run.model_id,
        output=_jsonable(run.output),
        error_code=run.error_code,
        error=_jsonable(run.error),
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
        cost_usd=run.cost_usd,
        latency_ms=run.latency_ms,
        created_at=run.created_at,
        finished_at=run.finished_at,
        lease_until=run.lease_until,
    )


def _attempt_row(attempt: AttemptRecord) -> AttemptRow:
    return AttemptRow(
        run_id=attempt.run_id,
        index=attempt.index,
        model_id=attempt.model_id,
        strategy=attempt.strategy,
        prompt=attempt.prompt,
        prompt_sha256=attempt.prompt_sha256,
        raw_output=attempt.raw_output,
        parsed_output=_jsonable(attempt.parsed_output),
        validation_errors=list(attempt.validation_errors),
        input_tokens=attempt.input_tokens,
        output_tokens=attempt.output_tokens,
        cost_usd=attempt.cost_usd,
        price=_jsonable(attempt.price),
        latency_ms=attempt.latency_ms,
        error_code=attempt.error_code,
        error_message=attempt.error_message,
        created_at=attempt.created_at,
    )


def _run_record(row: RunRow, attempts: list[AttemptRecord]) -> RunRecord:
    return RunRecord(
        id=row.id,
        tenant=row.tenant,
        task_name=row.task_name,
        task_version=row.task_version,
        input=row.input,
        status=RunStatus(row.status),
        model_id=row.model_id,
        output=row.output,
        error_code=row.error_code,
        error=row.error,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=row.cost_usd,
        latency_ms=row.latency_ms,
        created_at=row.created_at,
        finished_at=row.finished_at,
        lease_until=row.lease_until,
        attempts=attempts,
    )


def _attempt_record(row: AttemptRow) -> AttemptRecord:
    return AttemptRecord(
        run_id=row.run_id,
        index=row.index,
        model_id=row.model_id,
        strategy=row.strategy,
        prompt=row.prompt,
        prompt_sha256=row.prompt_sha256,
        raw_output=row.raw_output,
        parsed_output=row.parsed_output,
        validation_errors=row.validation_errors,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=row.cost_usd,
        price=row.price,
        latency_ms=row.latency_ms,
        error_code=row.error_code,
        error_message=row.error_message,
        created_at=row.created_at,
    )
