"""The store's ledger of runs over time: leases of running runs, abandoned ones, a budget's
spend, and the auction log that off-policy estimates read."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atomic.storage._records import RunStatus, utcnow
from atomic.storage._tables import AuctionRow, OutcomeRow, RunRow

__all__ = ["LoggedAuction", "RunLedger"]


class LoggedAuction:
    """One run's auction as logged: the record, what the run cost, and its correctness if
    feedback or ground truth said (``None`` otherwise)."""

    __slots__ = ("cost_usd", "created_at", "record", "reward", "run_id")

    def __init__(
        self,
        run_id: str,
        record: dict[str, Any],
        cost_usd: float,
        reward: float | None,
        created_at: datetime | None = None,
    ) -> None:
        self.run_id = run_id
        self.record = record
        self.cost_usd = cost_usd
        self.reward = reward
        self.created_at = created_at


class RunLedger:
    """Methods of :class:`atomic.storage.Store` for runs over time (a mixin)."""

    if TYPE_CHECKING:
        _sessions: async_sessionmaker[AsyncSession]

        def _translate_errors(self, action: str) -> AbstractAsyncContextManager[None]: ...

    async def extend_leases(self, run_ids: Sequence[str], until: datetime) -> None:
        """Keep running runs from being taken for abandoned: their process is alive."""
        if not run_ids:
            return
        statement = (
            update(RunRow)
            .where(RunRow.id.in_(list(run_ids)), RunRow.status == RunStatus.RUNNING.value)
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )
        async with self._translate_errors("extend run leases"), self._sessions.begin() as s:
            await s.execute(statement)

    async def reap_abandoned(self, now: datetime | None = None) -> int:
        """Mark every running run whose lease has expired as ``abandoned`` (its process died
        without finishing it); returns how many were."""
        now = now or utcnow()
        error = {
            "code": "run.abandoned",
            "message": "the process running this call stopped before it finished",
            "hint": "run the task again; attempts recorded before the stop are kept",
            "retryable": True,
            "context": {},
        }
        statement = (
            update(RunRow)
            .where(RunRow.status == RunStatus.RUNNING.value, RunRow.lease_until < now)
            .values(
                status=RunStatus.ABANDONED.value,
                error_code="run.abandoned",
                error=error,
                finished_at=now,
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        async with self._translate_errors("mark abandoned runs"), self._sessions.begin() as s:
            result = cast(CursorResult[Any], await s.execute(statement))
            return int(result.rowcount or 0)

    async def spend(self, *, tenant: str, task_name: str, since: datetime) -> float:
        """What a task's runs of ``tenant`` have cost since ``since``: a budget's spend, as
        every process on this database sees it."""
        statement = select(func.coalesce(func.sum(RunRow.cost_usd), 0.0)).where(
            RunRow.tenant == tenant, RunRow.task_name == task_name, RunRow.created_at >= since
        )
        async with (
            self._translate_errors(f"read the spend of {task_name!r}"),
            self._sessions() as s,
        ):
            return float((await s.execute(statement)).scalar_one())

    async def auction_log(
        self, *, tenant: str, task_name: str, since: datetime | None = None, limit: int = 10_000
    ) -> list[LoggedAuction]:
        """The auctions of a task's finished runs (newest first), with each run's cost and
        counted correctness: the log an off-policy estimate reads."""
        statement = (
            select(
                RunRow.id, AuctionRow.record, RunRow.cost_usd, OutcomeRow.reward, RunRow.created_at
            )
            .join(AuctionRow, AuctionRow.run_id == RunRow.id)
            .outerjoin(OutcomeRow, OutcomeRow.run_id == RunRow.id)
            .where(
                RunRow.tenant == tenant,
                RunRow.task_name == task_name,
                RunRow.status.in_([RunStatus.SUCCEEDED.value, RunStatus.FAILED.value]),
            )
            .order_by(RunRow.created_at.desc())
            .limit(limit)
        )
        if since is not None:
            statement = statement.where(RunRow.created_at >= since)
        async with (
            self._translate_errors(f"read the auctions of {task_name!r}"),
            self._sessions() as s,
        ):
            rows = (await s.execute(statement)).all()
        return [LoggedAuction(r[0], r[1], float(r[2]), r[3], r[4]) for r in rows]
