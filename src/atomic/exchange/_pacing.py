"""Budget pacing, as ad exchanges do it: spend tracks the budget over its window.

The spend itself lives in the store (the window's run costs), so it survives restarts and
every process on one database paces against the same number; a pacer only adds what its own
process spent since it last read it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Budget", "Pacer"]


@dataclass(frozen=True)
class Budget:
    """At most ``amount_usd`` per ``window_s`` seconds (windows start at multiples of
    ``window_s`` since the Unix epoch, so every process agrees on them)."""

    amount_usd: float
    window_s: float = 86_400.0


@dataclass
class Pacer:
    """A multiplier on cost that rises when spend runs ahead of the budget and falls when it lags.

    The target at time t into the window is ``amount × t / window`` plus an ``allowance`` share
    of the budget, so early calls are not starved. The multiplier is (spent / target) **
    ``gain``, kept in [``floor``, ``ceiling``]: bids are shaded up while spend runs ahead and
    down while it lags. On top of that soft control, a bid that would take spend past the
    target line (:meth:`headroom`) is throttled, except the cheapest, and nothing may exceed
    what is left of the budget.
    """

    budget: Budget
    gain: float = 1.0
    allowance: float = 0.05
    floor: float = 0.1
    ceiling: float = 1_000.0
    clock: Callable[[], float] = time.time
    spent: float = 0.0
    synced_at: float = -math.inf
    """When (``time.monotonic``) ``spent`` was last read from the store."""
    _window: float = math.nan

    def window_start(self) -> float:
        """The current window's start, in the clock's seconds."""
        window = self.budget.window_s
        start = math.floor(self.clock() / window) * window
        if start != self._window:
            self._window = start
            self.spent = 0.0
        return start

    def window_started_at(self) -> datetime:
        """The current window's start as a time, for reading its spend from the store."""
        return datetime.fromtimestamp(self.window_start(), UTC)

    def sync(self, spent_usd: float, at: float) -> None:
        """Take the window's spend as the store has it (every process's runs)."""
        self.window_start()
        self.spent = spent_usd
        self.synced_at = at

    @property
    def multiplier(self) -> float:
        ratio = self.spent / max(self.target(), 1e-12)
        scaled = math.exp(self.gain * math.log(max(ratio, 1e-6)))
        return min(max(scaled, self.floor), self.ceiling)

    @property
    def remaining(self) -> float:
        self.window_start()
        return max(self.budget.amount_usd - self.spent, 0.0)

    def target(self) -> float:
        elapsed = self.clock() - self.window_start()
        share = min(elapsed / self.budget.window_s, 1.0)
        return min(self.budget.amount_usd * (share + self.allowance), self.budget.amount_usd)

    def headroom(self) -> float:
        """How much one call may spend now without running ahead of the target line."""
        return max(self.target() - self.spent, 0.0)

    def record(self, cost_usd: float) -> None:
        """Count what a call of this process spent (until the next sync from the store)."""
        self.window_start()
        self.spent += cost_usd
