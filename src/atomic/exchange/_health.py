"""Whether a model can answer at all: circuit breakers, availability, learned windows.

Availability is its own signal, never a judgement of a model's answers: a server that is
down, a wrong key, a rate limit or a prompt the server cannot take says nothing about how
good the model's outputs are, so none of them reaches the learner's posteriors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BreakerState", "Health"]

_AVAILABILITY_DECAY = 0.95
"""Each call's weight in the availability estimate fades by this much per later call."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class _Breaker:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    answered: float = 1.0
    """Decayed count of calls the model answered (a pseudo-count: available until shown not)."""
    calls: float = 1.0


class Health:
    """Per-model breakers: ``threshold`` failures in a row open it for ``cooldown_s``.

    After the cooldown one call is let through (half-open); its success closes the breaker,
    its failure opens it again. Only availability failures count (transport, timeouts, 5xx,
    429, auth, a request the server refuses), not outputs that failed validation: those are
    the learner's business. Alongside, a decayed share of calls answered is the model's
    availability, and a context window a server refused lowers the window the exchange
    believes the model has.
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
        self._windows: dict[str, int] = {}

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

    def availability(self, model_id: str) -> float:
        """The decayed share of recent calls the model answered (1.0 before any failure)."""
        breaker = self._breakers.get(model_id)
        return 1.0 if breaker is None else breaker.answered / breaker.calls

    def record(self, model_id: str, ok: bool) -> None:
        breaker = self._breakers.setdefault(model_id, _Breaker())
        breaker.probing = False
        breaker.answered = breaker.answered * _AVAILABILITY_DECAY + (1.0 if ok else 0.0)
        breaker.calls = breaker.calls * _AVAILABILITY_DECAY + 1.0
        if ok:
            breaker.failures = 0
            breaker.opened_at = None
            return
        breaker.failures += 1
        if breaker.failures >= self.threshold or breaker.opened_at is not None:
            breaker.opened_at = self.clock()

    def context_window(self, model_id: str, card_window: int) -> int:
        """The window to plan with: the card's, unless a server refused less."""
        return min(card_window, self._windows.get(model_id, card_window))

    def refused_window(self, model_id: str, needed_tokens: int) -> None:
        """A server refused a request of about ``needed_tokens``: its window is smaller."""
        current = self._windows.get(model_id)
        limit = max(needed_tokens - 1, 1)
        self._windows[model_id] = limit if current is None else min(current, limit)
