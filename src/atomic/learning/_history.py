"""What a model has done on a task lately: latencies and output lengths, for bids."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ModelHistory"]

_KEEP = 256


def _quantile(sorted_values: list[float], q: float) -> float:
    index = min(int(q * len(sorted_values)), len(sorted_values) - 1)
    return sorted_values[index]


@dataclass
class ModelHistory:
    """The last few hundred calls of one model on one task (persisted with the learner)."""

    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_KEEP))
    output_tokens: deque[int] = field(default_factory=lambda: deque(maxlen=_KEEP))
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    mean_output_tokens: float = 0.0

    def record(self, latency_ms: float, output_tokens: int) -> None:
        self.latencies_ms.append(latency_ms)
        self.output_tokens.append(output_tokens)
        self._summarise()

    def _summarise(self) -> None:
        if not self.latencies_ms:
            return
        ordered = sorted(self.latencies_ms)
        self.p50_ms = _quantile(ordered, 0.5)
        self.p95_ms = _quantile(ordered, 0.95)
        self.mean_output_tokens = sum(self.output_tokens) / len(self.output_tokens)

    @property
    def calls(self) -> int:
        return len(self.latencies_ms)

    def to_state(self) -> dict[str, Any]:
        return {
            "latency_ms": [round(v, 3) for v in self.latencies_ms],
            "output_tokens": list(self.output_tokens),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ModelHistory:
        history = cls()
        history.latencies_ms.extend(float(v) for v in state.get("latency_ms", []))
        history.output_tokens.extend(int(v) for v in state.get("output_tokens", []))
        history._summarise()
        return history
