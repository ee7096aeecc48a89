"""The store's adaptation records: feedback, task memories, adaptation switches and trained
classifiers."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, cast

from pydantic_core import to_jsonable_python
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atomic.storage._ledger import LearnerMerge, LearnerStates, upsert
from atomic.storage._records import (
    AdaptationStateRecord,
    ClassifierRecord,
    FeedbackRecord,
    MemoryRecord,
    OutcomeRecord,
)
from atomic.storage._tables import (
    AdaptationStateRow,
    ClassifierRow,
    FeedbackRow,
    MemoryRow,
    RunRow,
)

__all__ = ["AdaptationLedger", "FeedbackWrite"]


class FeedbackWrite:
    """Everything one accepted piece of feedback changes, written in one transaction."""

    def __init__(
        self,
        feedback: FeedbackRecord,
        *,
        outcome: OutcomeRecord | None = None,
        learner_states: LearnerStates = (),
        learning: LearnerMerge | None = None,
        supersedes: Sequence[str] = (),
        remember: Sequence[MemoryRecord] = (),
        forget: Sequence[str] = (),
        state: AdaptationStateRecord | None = None,
    ) -> None:
        self.feedback = feedback
        self.outcome = outcome
        self.learner_states = learner_states
        self.learning = learning
        self.supersedes = supersedes
        self.remember = remember
        self.forget = forget
        self.state = state


class AdaptationLedger:
    """Methods of :class:`atomic.storage.Store` for feedback and adaptation (a mixin)."""

    if TYPE_CHECKING:
        _sessions: async_sessionmaker[AsyncSession]
        _locking_sessions: async_sessionmaker[AsyncSession]

        def _translate_errors(self, action: str) -> AbstractAsyncContextManager[None]: ...

        async def _merge_learning(self, session: AsyncSession, learning: LearnerMerge) -> None: ...

        async def _upsert_ledger(
            self, session: AsyncSession, outcome: OutcomeRecord | None, states: LearnerStates
        ) -> None: ...

        @property
        def _dialect(self) -> str: ...

    async def get_feedback(
        self, feedback_id: str, *, tenant: str = "default"
    ) -> FeedbackRecord | None:
        statement = select(FeedbackRow).where(
            FeedbackRow.id == feedback_id, FeedbackRow.tenant == tenant
        )
        async with self._translate_errors(f"read feedback {feedback_id!r}"), self._sessions() as s:
            row = (await s.execute(statement)).scalar_one_or_none()
            return None if row is None else _feedback_record(row)

    async def list_feedback(self, run_id: str, *, tenant: str = "default") -> list[FeedbackRecord]:
        """Every piece of feedback on a run, oldest first (superseded ones included)."""
        statement = (
            select(FeedbackRow)
            .where(FeedbackRow.run_id == run_id, FeedbackRow.tenant == tenant)
            .order_by(FeedbackRow.created_at, FeedbackRow.id)
        )
        async with self._translate_errors(f"read feedback on {run_id!r}"), self._sessions() as s:
            return [_feedback_record(r) for r in (await s.execute(statement)).scalars()]

    async def save_feedback(self, write: FeedbackWrite) -> None:
        """Insert the feedback and apply what it changes, all or nothing."""
        feedback = write.feedback
        action = f"record feedback {feedback.id!r} on run {feedback.run_id!r}"
        sessions = self._sessions if write.learning is None else self._locking_sessions
        async with self._translate_errors(action), sessions.begin() as session:
            if write.learning is not None:
                await self._merge_learning(session, write.learning)
            session.add(_feedback_row(feedback))
            if write.supersedes:
                await session.execute(
                    update(FeedbackRow)
                    .where(FeedbackRow.id.in_(list(write.supersedes)))
                    .values(superseded_by=feedback.id)
                    .execution_options(synchronize_session=False)
                )
            await session.flush()
            await self._upsert_ledger(session, write.outcome, write.learner_states)
            await self._write_memory(session, write.remember, write.forget, write.state)

    async def save_adaptation(
        self,
        *,
        remember: Sequence[MemoryRecord] = (),
        forget: Sequence[str] = (),
        state: AdaptationStateRecord | None = None,
        learner_states: LearnerStates = (),
        classifier: ClassifierRecord | None = None,
    ) -> None:
        """Write memory changes, a task's adaptation state and its newly trained classifier,
        in one transaction."""
        async with self._translate_errors("save adaptation state"), self._sessions.begin() as s:
            await self._write_memory(s, remember, forget, state)
            await self._upsert_ledger(s, None, learner_states)
            if classifier is not None:
                table = cast(Table, ClassifierRow.__table__)
                row = ClassifierRow(**classifier.model_dump())
                await s.execute(upsert(self._dialect, table, [row], ["tenant", "task_name"]))

    async def load_classifiers(
        self,
        *,
        tenant: str | None = None,
        task_name: str | None = None,
        newer_than: int | None = None,
    ) -> list[ClassifierRecord]:
        """Every saved classifier (of one tenant, or all; of one task; of a version above
        ``newer_than``)."""
        statement = select(ClassifierRow)
        if tenant is not None:
            statement = statement.where(ClassifierRow.tenant == tenant)
        if task_name is not None:
            statement = statement.where(ClassifierRow.task_name == task_name)
        if newer_than is not None:
            statement = statement.where(ClassifierRow.version > newer_than)
        async with self._translate_errors("load classifiers"), self._sessions() as session:
            rows = (await session.execute(statement)).scalars().all()
            return [ClassifierRecord.model_validate(r, from_attributes=True) for r in rows]

    async def _write_memory(
        self,
        session: AsyncSession,
        remember: Sequence[MemoryRecord],
        forget: Sequence[str],
        state: AdaptationStateRecord | None,
    ) -> None:
        if forget:
            await session.execute(delete(MemoryRow).where(MemoryRow.id.in_(list(forget))))
        if remember:
            table = cast(Table, MemoryRow.__table__)
            rows = [_memory_row(m) for m in remember]
            await session.execute(upsert(self._dialect, table, rows, ["id"]))
        if state is not None:
            table = cast(Table, AdaptationStateRow.__table__)
            row = AdaptationStateRow(
                tenant=state.tenant,
                task_name=state.task_name,
                frozen=state.frozen,
                state=to_jsonable_python(state.state),
                updated_at=state.updated_at,
            )
            await session.execute(upsert(self._dialect, table, [row], ["tenant", "task_name"]))

    async def clear_memory(self, task_name: str, *, tenant: str = "default") -> int:
        """Delete a task's memory and the classifier trained on it; returns how many
        examples went."""
        statement = delete(MemoryRow).where(
            MemoryRow.tenant == tenant, MemoryRow.task_name == task_name
        )
        classifier = delete(ClassifierRow).where(
            ClassifierRow.tenant == tenant, ClassifierRow.task_name == task_name
        )
        action = f"clear the memory of {task_name!r}"
        async with self._translate_errors(action), self._sessions.begin() as session:
            result = await session.execute(statement)
            await session.execute(classifier)
            return int(cast(Any, result).rowcount or 0)

    async def load_memory(self, *, tenant: str | None = None) -> list[MemoryRecord]:
        """Every remembered example (of one tenant, or all), oldest update first."""
        # Plain rows, not ORM objects: every open reads thousands, and building an ORM
        # instance for each cost more than reading it.
        table = cast(Table, MemoryRow.__table__)
        statement = select(table).order_by(table.c.updated_at, table.c.id)
        if tenant is not None:
            statement = statement.where(table.c.tenant == tenant)
        async with self._translate_errors("load task memories"), self._sessions() as session:
            rows = (await session.execute(statement)).mappings().all()
        return [MemoryRecord.model_validate(dict(row)) for row in rows]

    async def load_adaptation_states(
        self, *, tenant: str | None = None, task_name: str | None = None
    ) -> list[AdaptationStateRecord]:
        """Every task's adaptation state (of one tenant, or all; of one task)."""
        statement = select(AdaptationStateRow)
        if tenant is not None:
            statement = statement.where(AdaptationStateRow.tenant == tenant)
        if task_name is not None:
            statement = statement.where(AdaptationStateRow.task_name == task_name)
        async with self._translate_errors("load adaptation state"), self._sessions() as session:
            rows = (await session.execute(statement)).scalars().all()
            return [AdaptationStateRecord.model_validate(r, from_attributes=True) for r in rows]

    async def win_shares(
        self, task_name: str, *, tenant: str = "default", last: int = 500
    ) -> dict[str, int]:
        """How many of a task's last ``last`` successful runs each model served."""
        recent = (
            select(RunRow.model_id)
            .where(
                RunRow.tenant == tenant,
                RunRow.task_name == task_name,
                RunRow.status == "succeeded",
            )
            .order_by(RunRow.created_at.desc(), RunRow.id.desc())
            .limit(last)
            .subquery()
        )
        statement = select(recent.c.model_id, func.count()).group_by(recent.c.model_id)
        action = f"count the winners of {task_name!r}"
        async with self._translate_errors(action), self._sessions() as session:
            rows = (await session.execute(statement)).all()
        return {str(model): int(count) for model, count in rows}


def _feedback_row(record: FeedbackRecord) -> FeedbackRow:
    return FeedbackRow(**{**record.model_dump(), "output": to_jsonable_python(record.output)})


def _feedback_record(row: FeedbackRow) -> FeedbackRecord:
    return FeedbackRecord.model_validate(row, from_attributes=True)


def _memory_row(record: MemoryRecord) -> MemoryRow:
    jsonable = {key: to_jsonable_python(getattr(record, key)) for key in ("input", "output")}
    return MemoryRow(**{**record.model_dump(), **jsonable})
