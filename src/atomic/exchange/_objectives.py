"""How an auction is cleared: the caller's objective turns each bid into a score."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

__all__ = ["MaxQuality", "MinCost", "Objective", "Utility", "objective_from_dict"]

Num = Any
"""A float, or a numpy array of floats: objectives also score many draws at once."""


@dataclass(frozen=True)
class Utility:
    """value × P(success) − cost − latency_weight × latency (seconds). The default.

    ``value_usd`` overrides the task's value of a correct answer; ``latency_weight`` is what a
    second of waiting costs the caller, in USD.
    """

    kind: ClassVar[Literal["utility"]] = "utility"
    value_usd: float | None = None
    latency_weight: float = 0.0

    def score(self, p: Num, cost: Num, latency_s: Num, value_usd: float) -> Num:
        value = self.value_usd if self.value_usd is not None else value_usd
        return value * p - cost - self.latency_weight * latency_s

    def feasible(self, p: Num, cost: Num, latency_s: Num) -> Num:
        return True

    def fallback(self, p: Num, cost: Num) -> Num:
        return p

    def params(self) -> dict[str, Any]:
        return {"value_usd": self.value_usd, "latency_weight": self.latency_weight}


@dataclass(frozen=True)
class MinCost:
    """The cheapest bid whose P(success) reaches ``floor``; if none does, the likeliest."""

    kind: ClassVar[Literal["min_cost"]] = "min_cost"
    floor: float = 0.8

    def score(self, p: Num, cost: Num, latency_s: Num, value_usd: float) -> Num:
        return -cost

    def feasible(self, p: Num, cost: Num, latency_s: Num) -> Num:
        return p >= self.floor

    def fallback(self, p: Num, cost: Num) -> Num:
        return p

    def params(self) -> dict[str, Any]:
        return {"floor": self.floor}


@dataclass(frozen=True)
class MaxQuality:
    """The likeliest bid within ``max_cost_usd`` and ``max_latency_ms``; else the cheapest."""

    kind: ClassVar[Literal["max_quality"]] = "max_quality"
    max_cost_usd: float = math.inf
    max_latency_ms: float = math.inf

    def score(self, p: Num, cost: Num, latency_s: Num, value_usd: float) -> Num:
        return p

    def feasible(self, p: Num, cost: Num, latency_s: Num) -> Num:
        # `&`, not `and`: costs and latencies may be arrays (every bid scored at once).
        return (cost <= self.max_cost_usd) & (latency_s * 1000 <= self.max_latency_ms)

    def fallback(self, p: Num, cost: Num) -> Num:
        return -cost

    def params(self) -> dict[str, Any]:
        return {"max_cost_usd": self.max_cost_usd, "max_latency_ms": self.max_latency_ms}


Objective = Utility | MinCost | MaxQuality


def objective_from_dict(data: dict[str, Any]) -> Objective:
    """Rebuild an objective from ``{"kind": ..., **params}`` (as stored in a record)."""
    kinds: dict[str, type[Objective]] = {
        "utility": Utility,
        "min_cost": MinCost,
        "max_quality": MaxQuality,
    }
    params = {k: v for k, v in data.items() if k != "kind"}
    return kinds[data["kind"]](**params)
