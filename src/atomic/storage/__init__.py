"""The store: runs and their attempts, in SQLite or PostgreSQL, behind one repository."""

from atomic.storage._records import (
    AttemptRecord,
    OutcomeRecord,
    RunRecord,
    RunStatus,
    new_run_id,
    utcnow,
)
from atomic.storage._store import Store

__all__ = [
    "AttemptRecord",
    "OutcomeRecord",
    "RunRecord",
    "RunStatus",
    "Store",
    "new_run_id",
    "utcnow",
]
