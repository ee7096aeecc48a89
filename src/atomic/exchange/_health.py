"""Circuit breakers: a model that keeps failing stops bidding for a while, then is probed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BreakerState", "Health"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class _Breaker:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class Health:
    """Per-model breakers: ``threshold`` failures in a row open it for ``cooldown_s``.

    After the cooldown one call is let through (half-open); its success closes the breaker,
    its failure opens it again. Only model errors count (timeouts, 5xx, transport), not
    outputs that failed validation: those are the learner's business.
    """

    def __init__(
        self,
        threshold: int = 3,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._breakers: dict[str, _Breaker] = {}

    def state(self, model_id: str) -> BreakerState:
        breaker = self._breakers.get(model_id)
        if breaker is None or breaker.opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - breaker.opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def admits(self, model_id: str) -> bool:
        """Whether the model may bid now; a half-open breaker admits one probe at a time."""
        breaker = self._breakers.get(model_id)
        if breaker is None or breaker.opened_at is None:
            return True
        state = self.state(model_id)
        if state is BreakerState.HALF_OPEN and not breaker.probing:
            breaker.probing = True
            return True
        return False

    def record(self, model_id: str, ok: bool) -> None:
        breaker = self._breakers.setdefault(model_id, _Breaker())
        breaker.probing = False
        if ok:
            breaker.failures = 0
            breaker.opened_at = None
            return
        breaker.failures += 1
        if breaker.failures >= self.threshold or breaker.opened_at is not None:
            breaker.opened_at = self.clock()
