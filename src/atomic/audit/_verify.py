"""Checking the egress ledger's chain: every entry's hash, every link, no gap in ``seq``."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from atomic.audit._entry import GENESIS_HASH, EgressEntry

__all__ = ["ChainProblem", "ChainReport", "verify_chain", "verify_entries"]

ProblemKind = Literal["altered", "unlinked", "missing"]


@dataclass(frozen=True)
class ChainProblem:
    """One place the chain is broken, naming the entry (by ``seq``) and what is wrong."""

    seq: int
    kind: ProblemKind
    message: str


@dataclass
class ChainReport:
    """What verifying the chain found: how many entries, its head, and each problem."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def _check(self, entry: EgressEntry) -> None:
        expected = entry.expected_hash()
        if entry.entry_hash != expected:
            self.problems.append(
                ChainProblem(
                    entry.seq,
                    "altered",
                    f"entry {entry.seq} was altered: its fields no longer hash to its "
                    f"entry_hash ({entry.entry_hash[:12]}…, expected {expected[:12]}…)",
                )
            )
        if entry.seq > self.head_seq + 1:
            first, last = self.head_seq + 1, entry.seq - 1
            gone = f"entry {first}" if first == last else f"entries {first} to {last}"
            self.problems.append(
                ChainProblem(
                    first,
                    "missing",
                    f"{gone} {'is' if first == last else 'are'} missing (deleted): entry "
                    f"{entry.seq} follows entry {self.head_seq or 'none'}",
                )
            )
        elif entry.prev_hash != self.head_hash:
            before = f"entry {self.head_seq}" if self.head_seq else "the start of the chain"
            self.problems.append(
                ChainProblem(
                    entry.seq,
                    "unlinked",
                    f"entry {entry.seq} does not follow {before}: its prev_hash "
                    f"({entry.prev_hash[:12]}…) is not {before}'s hash "
                    f"({self.head_hash[:12]}…), so one of the two was altered",
                )
            )
        self.entries += 1
        self.head_seq, self.head_hash = entry.seq, entry.entry_hash


def verify_entries(entries: Iterable[EgressEntry]) -> ChainReport:
    """Verify entries in chain order (an export's, say)."""
    report = ChainReport()
    for entry in entries:
        report._check(entry)
    return report


async def verify_chain(entries: AsyncIterable[EgressEntry]) -> ChainReport:
    """Verify the chain as the ledger reads it (``EgressLedger.chain()``), a page at a time.

    It finds any edited entry (its hash no longer matches), any entry whose hash was
    recomputed after an edit (the next entry no longer links to it), and any deleted entry
    (a gap in ``seq``). Deleting the newest entries leaves no trace in the chain itself:
    compare with a signed export's head (``atomic audit export``) for that.
    """
    report = ChainReport()
    async for entry in entries:
        report._check(entry)
    return report
