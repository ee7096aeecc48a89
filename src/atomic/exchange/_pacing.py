"""Budget pacing, as ad exchanges do it: spend tracks the budget over its window."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Budget", "Pacer"]


@dataclass(frozen=True)
class Budget:
    """At most ``amount_usd`` per ``window_s`` seconds."""

    amount_usd: float
    window_s: float = 86_400.0


@dataclass
class Pacer:
    """A multiplier on cost that rises when spend runs ahead of the budget and falls when it lags.

    The target at time t into the window is ``amount × t / window`` plus an ``allowance`` share
    of the budget, so early calls are not starved. After each call the multiplier is scaled by
    (actual / target) ** ``gain`` and kept in [``floor``, ``ceiling``]: bids are shaded up
    while spend runs ahead and down while it lags. On top of that soft control, a bid that
    would take spend past the target line (:meth:`headroom`) is throttled, except the cheapest,
    and nothing may exceed what is left of the budget.
    """

    budget: Budget
    gain: float = 1.0
    allowance: float = 0.05
    floor: float = 0.1
    ceiling: float = 1_000.0
    clock: Callable[[], float] = time.monotonic
    multiplier: float = 1.0
    spent: float = 0.0
    window_start: float = field(default=math.nan)

    def _roll(self) -> float:
        now = self.clock()
        if math.isnan(self.window_start) or now - self.window_start >= self.budget.window_s:
            self.window_start = now
            self.spent = 0.0
            self.multiplier = 1.0
        return now - self.window_start

    @property
    def remaining(self) -> float:
        self._roll()
        return max(self.budget.amount_usd - self.spent, 0.0)

    def target(self) -> float:
        elapsed = self._roll()
        share = min(elapsed / self.budget.window_s, 1.0)
        return min(self.budget.amount_usd * (share + self.allowance), self.budget.amount_usd)

    def headroom(self) -> float:
        """How much one call may spend now without running ahead of the target line."""
        return max(self.target() - self.spent, 0.0)

    def record(self, cost_usd: float) -> None:
        """Count what a call spent and adjust the multiplier."""
        self._roll()
        self.spent += cost_usd
        ratio = self.spent / max(self.target(), 1e-12)
        self.multiplier *= math.exp(self.gain * math.log(max(ratio, 1e-6)))
        self.multiplier = min(max(self.multiplier, self.floor), self.ceiling)
