"""Metrics for routers on the cost–quality plane, and off-policy estimates from logged choices.

Definitions used (costs are mean USD per query, quality is mean accuracy):

* **Non-decreasing convex hull** of a policy's points (RouterBench, Hu et al. 2024, §3): the
  upper convex hull from the policy's cheapest point up to its most accurate one, then flat.
  Any point on it is reachable by randomly mixing two of the policy's configurations.
* **AIQ** (RouterBench's "average improvement in quality"): the area under that hull over a
  cost range ``[c_min, c_max]`` shared by every policy compared, divided by ``c_max − c_min``.
  As in RouterBench's reference code (``evaluation/AIQ.py``), the hull counts as 0 below the
  policy's cheapest point (nothing cheaper is reachable) and stays at its best quality up to
  ``c_max``. The shared range is the cheapest and dearest point of all policies in the run.
* **CostSave** (LLMRouterBench, Li et al. 2026): the largest relative cost reduction,
  ``1 − cost / cost_best_single``, over the policy's configurations whose accuracy is at least
  the best single model's; ``None`` when no configuration reaches it.
* **IPS** (inverse propensity scoring): the value of a deterministic target policy estimated
  from another policy's logs, ``mean(1[target = logged] · reward / propensity)``; SNIPS
  divides by ``mean(1[target = logged] / propensity)`` instead of 1, trading a little bias for
  much less variance.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from atomic.learning import IPSEstimate, ips

__all__ = ["IPSEstimate", "aiq", "cost_save", "ips", "nondecreasing_hull"]

Point = tuple[float, float]
"""(mean cost per query in USD, mean quality)."""

_TIE = 1e-12


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def nondecreasing_hull(points: Sequence[Point]) -> list[Point]:
    """The non-decreasing convex hull's vertices, cheapest first (see the module docstring).

    >>> nondecreasing_hull([(1, 0.5), (2, 0.55), (3, 0.9), (4, 0.8)])
    [(1, 0.5), (3, 0.9)]
    """
    if not points:
        raise ValueError("a hull needs at least one point")
    # At equal cost only the best quality matters.
    best: dict[float, float] = {}
    for cost, quality in points:
        best[cost] = max(quality, best.get(cost, -math.inf))
    ordered = sorted(best.items())
    top = max(q for _, q in ordered)
    # Up to the first point of top quality: anything dearer only adds cost.
    end = next(i for i, (_, q) in enumerate(ordered) if q >= top - _TIE)
    hull: list[Point] = []
    for point in ordered[: end + 1]:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], point) >= 0:
            hull.pop()
        hull.append(point)
    return hull


def _hull_at(hull: Sequence[Point], cost: float) -> float:
    if cost < hull[0][0]:
        return 0.0
    for (c0, q0), (c1, q1) in itertools.pairwise(hull):
        if c0 <= cost <= c1:
            return q0 + (q1 - q0) * (cost - c0) / (c1 - c0)
    return hull[-1][1]


def aiq(points: Sequence[Point], c_min: float, c_max: float) -> float:
    """Area under the non-decreasing convex hull of ``points`` over ``[c_min, c_max]``,
    divided by the range's width (see the module docstring).

    >>> round(aiq([(0.0, 0.5), (1.0, 1.0)], 0.0, 1.0), 6)
    0.75
    >>> aiq([(0.5, 0.8)], 0.0, 1.0)  # nothing below cost 0.5, 0.8 above it
    0.4
    """
    if c_max < c_min:
        raise ValueError(f"c_max {c_max} is below c_min {c_min}")
    hull = nondecreasing_hull(points)
    if c_max == c_min:
        return _hull_at(hull, c_min)
    # The hull is piecewise linear: integrate exactly between its breakpoints.
    cuts = sorted({c_min, c_max, *(c for c, _ in hull if c_min < c < c_max)})
    area = 0.0
    for left, right in itertools.pairwise(cuts):
        # Just inside each piece, so the step up at the hull's first point is not averaged in.
        eps = (right - left) * 1e-12
        area += (right - left) * (_hull_at(hull, left + eps) + _hull_at(hull, right - eps)) / 2
    return area / (c_max - c_min)


def cost_save(points: Sequence[Point], best_quality: float, best_cost: float) -> float | None:
    """The largest ``1 − cost / best_cost`` among ``points`` with quality ≥ ``best_quality``.

    >>> cost_save([(0.5, 0.9), (0.2, 0.85), (0.8, 0.95)], best_quality=0.9, best_cost=1.0)
    0.5
    >>> cost_save([(0.2, 0.85)], best_quality=0.9, best_cost=1.0) is None
    True
    """
    if best_cost <= 0:
        raise ValueError(f"best_cost must be positive, got {best_cost}")
    reaching = [cost for cost, quality in points if quality >= best_quality - _TIE]
    if not reaching:
        return None
    return 1.0 - min(reaching) / best_cost
