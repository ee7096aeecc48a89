"""What each model has done on each task: latencies and output lengths, for bids."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["History", "ModelHistory"]

_KEEP = 256


def _quantile(sorted_values: list[float], q: float) -> float:
    index = min(int(q * len(sorted_values)), len(sorted_values) - 1)
    return sorted_values[index]


@dataclass
class ModelHistory:
    """The last few hundred calls of one model on one task."""

    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_KEEP))
    output_tokens: deque[int] = field(default_factory=lambda: deque(maxlen=_KEEP))
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    mean_output_tokens: float = 0.0

    def record(self, latency_ms: float, output_tokens: int) -> None:
        self.latencies_ms.append(latency_ms)
        self.output_tokens.append(output_tokens)
        ordered = sorted(self.latencies_ms)
        self.p50_ms = _quantile(ordered, 0.5)
        self.p95_ms = _quantile(ordered, 0.95)
        self.mean_output_tokens = sum(self.output_tokens) / len(self.output_tokens)

    @property
    def calls(self) -> int:
        return len(self.latencies_ms)


class History:
    """ModelHistory per (tenant, task, model)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, str], ModelHistory] = {}

    def get(self, key: tuple[str, str, str]) -> ModelHistory | None:
        return self._by_key.get(key)

    def record(self, key: tuple[str, str, str], latency_ms: float, output_tokens: int) -> None:
        self._by_key.setdefault(key, ModelHistory()).record(latency_ms, output_tokens)
