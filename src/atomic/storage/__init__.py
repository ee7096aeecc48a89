"""The store: runs, the exchange's ledger and adaptation records, in SQLite or PostgreSQL."""

from atomic.storage._adaptation_ledger import FeedbackWrite
from atomic.storage._ledger import LearnerMerge
from atomic.storage._records import (
    AdaptationStateRecord,
    AttemptRecord,
    ClassifierRecord,
    FeedbackRecord,
    MemoryRecord,
    OutcomeRecord,
    RunRecord,
    RunStatus,
    new_run_id,
    utcnow,
)
from atomic.storage._store import Store

__all__ = [
    "AdaptationStateRecord",
    "AttemptRecord",
    "ClassifierRecord",
    "FeedbackRecord",
    "FeedbackWrite",
    "LearnerMerge",
    "MemoryRecord",
    "OutcomeRecord",
    "RunRecord",
    "RunStatus",
    "Store",
    "new_run_id",
    "utcnow",
]
