"""One entry of the egress ledger, and the hash that chains it to the one before."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GENESIS_HASH", "EgressEntry", "entry_hash"]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry."""


class EgressEntry(BaseModel):
    """A payload of task data that left for a model whose residency is not ``local``.

    ``entry_hash`` is the SHA-256 of every other field (see :func:`entry_hash`), ``prev_hash``
    the previous entry's, so an edit, an insertion or a deletion breaks the chain.
    """

    model_config = ConfigDict(frozen=True)

    seq: int = Field(ge=1, description="Place in the chain, from 1.")
    created_at: datetime
    tenant: str
    run_id: str | None = Field(description="The run the request was for; None outside a run.")
    task_name: str | None
    model_id: str
    endpoint_host: str
    residency: str
    region: str | None
    policy_version: str | None = Field(
        description="Digest of the task's sensitivity rules that allowed the egress (there are "
        "no versioned policies yet); None outside a run."
    )
    rule: str = Field(description="The rule that allowed the egress, in words.")
    byte_count: int = Field(ge=0)
    payload_sha256: str = Field(description="SHA-256 of the exact bytes sent.")
    fields_sent: list[str] = Field(description="Input fields sent as they are.")
    fields_redacted: list[str] = Field(description="Input fields sent redacted.")
    fields_withheld: list[str] = Field(description="Input fields not sent.")
    prev_hash: str
    entry_hash: str

    def expected_hash(self) -> str:
        """The hash this entry's content calls for (differs from ``entry_hash`` once edited)."""
        return entry_hash(self.model_dump(exclude={"entry_hash"}))


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of the fields as canonical JSON: sorted keys, no spaces, UTF-8, times in UTC
    to the microsecond (what SQLite and PostgreSQL both keep)."""
    canonical = {key: _canonical(value) for key, value in fields.items() if key != "entry_hash"}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
