"""The routing benchmark's picture: every policy on the cost–quality plane, with frontiers."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: write files only

import matplotlib.pyplot as plt
import numpy as np

from benchmarks._metrics import nondecreasing_hull

__all__ = ["plot_frontier"]

_FAMILY_STYLE = {
    "exchange (warm)": {"color": "tab:red", "marker": "o"},
    "kNN router": {"color": "tab:blue", "marker": "s"},
}


def _hull_curve(points: Sequence[tuple[float, float]], c_max: float) -> tuple[Any, Any]:
    # Dense samples so straight hull segments are drawn right on a logarithmic cost axis.
    hull = nondecreasing_hull(points)
    xs: list[float] = []
    ys: list[float] = []
    for (c0, q0), (c1, q1) in itertools.pairwise(hull):
        grid = np.linspace(c0, c1, 50)
        xs += list(grid)
        ys += list(q0 + (q1 - q0) * (grid - c0) / (c1 - c0))
    xs += [hull[-1][0], c_max]
    ys += [hull[-1][1], hull[-1][1]]
    return xs, ys


def plot_frontier(
    path: Path,
    singles: Mapping[str, tuple[float, float]],
    baselines: Mapping[str, tuple[float, float]],
    families: Mapping[str, Sequence[tuple[float, float]]],
    online: Mapping[str, tuple[float, float]],
    c_max: float,
    title: str,
    best_single: float | None = None,
) -> None:
    """Write a PNG: single models (grey, labelled), baselines, each family's points with its
    non-decreasing convex hull, the online runs, and the best single model's accuracy (the
    line CostSave is measured on)."""
    fig, ax = plt.subplots(figsize=(13, 7), dpi=120)
    if best_single is not None:
        ax.axhline(
            best_single,
            color="0.5",
            linestyle=":",
            linewidth=1,
            label="best single model's accuracy",
        )
    for name, (cost, quality) in singles.items():
        ax.scatter(cost, quality, color="0.45", marker="D", s=28, zorder=3)
        ax.annotate(
            name,
            (cost, quality),
            fontsize=7,
            color="0.3",
            xytext=(4, 3),
            textcoords="offset points",
        )
    for name, (cost, quality) in baselines.items():
        ax.scatter(cost, quality, marker="*", s=140, zorder=4, label=name)
    for name, points in families.items():
        style = _FAMILY_STYLE.get(name, {"color": "tab:green", "marker": "^"})
        xs = [c for c, _ in points]
        ys = [q for _, q in points]
        ax.scatter(xs, ys, s=22, zorder=4, alpha=0.8, **style)
        hx, hy = _hull_curve(points, c_max)
        ax.plot(hx, hy, color=style["color"], linewidth=1.6, label=f"{name} (hull)")
    for (name, (cost, quality)), color, marker in zip(
        online.items(),
        itertools.cycle(("tab:purple", "tab:brown")),
        itertools.cycle("PX"),
        strict=False,
    ):
        ax.scatter(cost, quality, marker=marker, s=110, zorder=5, color=color, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per query (USD, log scale)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
