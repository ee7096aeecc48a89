"""A task's memory of verified examples: bounded, one example per input, trust before age."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from atomic.adaptation._feedback import trust_of
from atomic.adaptation._retrieval import Analyzer, LexicalIndex
from atomic.encoders import SyncEncoder
from atomic.storage import MemoryRecord, utcnow

__all__ = ["MemoryChange", "TaskMemory", "example_id"]


def example_id(tenant: str, task_name: str, key: str) -> str:
    """One id per (tenant, task, input): a later label for the same input overwrites it."""
    digest = hashlib.sha256(f"{tenant}\x00{task_name}\x00{key}".encode()).hexdigest()
    return f"ex_{digest[:24]}"


@dataclass
class MemoryChange:
    """What adding one example did: kept or refused, and what it replaced or evicted."""

    kept: bool
    reason: str
    replaced: MemoryRecord | None = None
    evicted: list[MemoryRecord] = field(default_factory=list)


class TaskMemory:
    """The verified examples of one (tenant, task), searchable by similarity.

    Two labels for one input (the same text up to case, punctuation and spacing) are resolved
    by source trust, then recency: ground truth over a human over a judge over a check, and
    among equals the newer wins. Past ``capacity`` examples, the least trusted, then oldest,
    example is evicted.
    """

    def __init__(
        self,
        tenant: str,
        task_name: str,
        *,
        capacity: int,
        analyzer: Analyzer = "word+char",
        encoder: SyncEncoder | None = None,
    ) -> None:
        self.tenant = tenant
        self.task_name = task_name
        self.capacity = capacity
        self._by_key: dict[str, MemoryRecord] = {}
        self._by_id: dict[str, MemoryRecord] = {}
        self._index = LexicalIndex(analyzer, encoder=encoder)
        self.version = 0
        """Bumped on every change: learned models refit against it."""

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Any:
        return iter(sorted(self._by_id.values(), key=lambda r: (r.updated_at, r.id)))

    def get(self, example_id: str) -> MemoryRecord | None:
        return self._by_id.get(example_id)

    def get_by_key(self, key: str) -> MemoryRecord | None:
        return self._by_key.get(key)

    def load(self, records: Iterable[MemoryRecord]) -> None:
        """Put back examples read from the store (no conflict rules: they were applied)."""
        batch = []
        for record in records:
            self._by_key[record.input_key] = record
            self._by_id[record.id] = record
            batch.append((record.id, record.text))
        self._index.add_many(batch)
        self.version += 1

    def propose(self, record: MemoryRecord) -> MemoryChange:
        """Add ``record`` unless a more trusted label for the same input is already kept."""
        current = self._by_key.get(record.input_key)
        if current is not None and trust_of(current.source) > trust_of(record.source):
            return MemoryChange(
                kept=False,
                reason=f"a {current.source} label for this input is trusted over {record.source}",
            )
        if current is not None:
            record = record.model_copy(update={"created_at": current.created_at})
            self._drop(current)
        self._by_key[record.input_key] = record
        self._by_id[record.id] = record
        self._index.add(record.id, record.text)
        evicted = self._evict()
        self.version += 1
        reason = "replaced an earlier label for this input" if current else "added"
        return MemoryChange(kept=True, reason=reason, replaced=current, evicted=evicted)

    def forget(self, example_id: str) -> MemoryRecord | None:
        record = self._by_id.get(example_id)
        if record is not None:
            self._drop(record)
            self.version += 1
        return record

    def clear(self) -> list[MemoryRecord]:
        dropped = list(self._by_id.values())
        self._by_key.clear()
        self._by_id.clear()
        self._index.clear()
        self.version += 1
        return dropped

    def _drop(self, record: MemoryRecord) -> None:
        self._by_key.pop(record.input_key, None)
        self._by_id.pop(record.id, None)
        self._index.remove(record.id)

    def _evict(self) -> list[MemoryRecord]:
        if len(self._by_id) <= self.capacity:
            return []
        surplus = len(self._by_id) - self.capacity
        order = sorted(self._by_id.values(), key=lambda r: (trust_of(r.source), r.updated_at, r.id))
        victims = order[:surplus]
        for record in victims:
            self._drop(record)
        return victims

    def search(self, text: str, k: int) -> list[tuple[MemoryRecord, float]]:
        """The ``k`` examples most similar to ``text``, most similar first."""
        return [(self._by_id[i], score) for i, score in self._index.search(text, k)]

    def label_counts(self) -> Mapping[str, int]:
        counts: dict[str, int] = {}
        for record in self._by_id.values():
            counts[record.source] = counts.get(record.source, 0) + 1
        return counts

    def new_record(
        self,
        *,
        key: str,
        data: dict[str, Any],
        text: str,
        output: Any,
        source: str,
        run_id: str | None = None,
        feedback_id: str | None = None,
    ) -> MemoryRecord:
        now = utcnow()
        return MemoryRecord(
            id=example_id(self.tenant, self.task_name, key),
            tenant=self.tenant,
            task_name=self.task_name,
            input_key=key,
            input=data,
            text=text,
            output=output,
            source=source,
            run_id=run_id,
            feedback_id=feedback_id,
            created_at=now,
            updated_at=now,
        )
