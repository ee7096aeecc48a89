"""The routing benchmark's numbers: baseline policies, the kNN family, summaries of exchange
passes, and the scores (AIQ, CostSave, IPS, targets) that go into the report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from atomic.models import RouterBenchRow
from benchmarks._knn import KNNRouter
from benchmarks._metrics import aiq, cost_save, ips
from benchmarks._routing_exchange import PassResult

__all__ = [
    "CHECKPOINTS",
    "WINDOW",
    "ips_summary",
    "knn_family",
    "online_summary",
    "pass_summary",
    "score",
    "static_policies",
    "sweep_choices",
    "targets",
]

CHECKPOINTS = (100, 200, 400, 800)
WINDOW = 100

Matrix = npt.NDArray[np.float64]


def point(cost: float, quality: float) -> dict[str, float]:
    return {"cost_usd": float(cost), "accuracy": float(quality)}


def picks(choices: Sequence[Any], names: Sequence[str] = ()) -> dict[str, int]:
    """How often each model was chosen; integer choices index ``names``."""
    counted = Counter(names[c] if isinstance(c, int | np.integer) else c for c in choices)
    return dict(counted.most_common())


def rolling(quality: Sequence[float], window: int) -> list[float]:
    """Mean of the last ``window`` values (fewer at the start), after each value."""
    values = np.asarray(quality, dtype=float)
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return [float(x) for x in (sums[ends] - sums[starts]) / (ends - starts)]


def static_policies(
    q: Matrix, c: Matrix, train_cost: Matrix, train_acc: Matrix, names: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every single model, and random, cheapest, best single and the per-query oracle.

    ``q[i, m]`` and ``c[i, m]`` are model ``m``'s recorded quality and cost on test prompt
    ``i``; cheapest and best single are picked on the train split, as a deployer would.
    """
    rows = np.arange(len(q))
    singles = {name: point(c[:, j].mean(), q[:, j].mean()) for j, name in enumerate(names)}
    cheapest = int(np.argmin(train_cost))
    best = max(range(len(names)), key=lambda j: (train_acc[j], -train_cost[j]))
    correct_cost = np.where(q >= 0.5, c, np.inf)
    any_correct = np.isfinite(correct_cost).any(axis=1)
    oracle = np.where(any_correct, np.argmin(correct_cost, axis=1), np.argmin(c, axis=1))
    baselines = {
        "random": {**point(c.mean(), q.mean()), "config": "uniform pick (expectation)"},
        "cheapest": {**singles[names[cheapest]], "config": names[cheapest]},
        "best single": {**singles[names[best]], "config": names[best]},
        "oracle": {
            **point(c[rows, oracle].mean(), q[rows, oracle].mean()),
            "config": "cheapest correct model per query",
            "picks": picks(oracle.tolist(), names),
        },
    }
    return singles, baselines


def sweep_choices(
    predicted: Matrix, cost: Matrix, values: Sequence[float], floors: Sequence[float]
) -> list[tuple[str, npt.NDArray[np.int64]]]:
    """The kNN's choice per prompt under each willingness to pay and each quality floor."""
    found = [(f"utility ${v:.3g}", KNNRouter.route(predicted, cost, v)) for v in values]
    for floor in floors:
        # MinCost's rule on the kNN's predictions: the cheapest model predicted to reach the
        # floor, else the likeliest.
        reach = np.where(predicted >= floor, cost[None, :], np.inf)
        chosen = np.where(
            np.isfinite(reach).any(axis=1), np.argmin(reach, axis=1), np.argmax(predicted, axis=1)
        )
        found.append((f"min-cost ≥{floor:g}", chosen.astype(np.int64)))
    return found


def knn_family(
    train_rows: Sequence[RouterBenchRow],
    test_rows: Sequence[RouterBenchRow],
    names: Sequence[str],
    q: Matrix,
    c: Matrix,
    train_cost: Matrix,
    *,
    values: Sequence[float],
    floors: Sequence[float],
    seed: int,
) -> dict[str, Any]:
    """The kNN router under every willingness to pay in ``values`` and every floor, its ``k``
    chosen for the best AIQ of that same frontier on a validation fifth of the train rows."""
    train_q = np.array([[r.quality[m] for m in names] for r in train_rows])
    train_c = np.array([[r.cost[m] for m in names] for r in train_rows])

    def frontier(predicted: Matrix, quality: Matrix, cost: Matrix) -> list[dict[str, Any]]:
        rows = np.arange(len(quality))
        return [
            {
                "config": config,
                **point(cost[rows, chosen].mean(), quality[rows, chosen].mean()),
                "picks": picks(chosen.tolist(), names),
            }
            for config, chosen in sweep_choices(predicted, train_cost, values, floors)
        ]

    def validation_aiq(predicted: Matrix, rows: npt.NDArray[np.int64]) -> float:
        points = frontier(predicted, train_q[rows], train_c[rows])
        singles = train_c[rows].mean(axis=0)
        return aiq([(p["cost_usd"], p["accuracy"]) for p in points], singles.min(), singles.max())

    prompts = [r.prompt for r in train_rows]
    router, scores = KNNRouter.tuned(prompts, train_q, seed=seed, criterion=validation_aiq)
    predicted = router.predict([r.prompt for r in test_rows])
    return {
        "k": router.k,
        "k_chosen_by": "validation AIQ (a fifth of the train rows)",
        "validation_aiq": scores,
        "embedding": "TF-IDF word 1-2 grams, cosine",
        "configs": frontier(predicted, q, c),
    }


def pass_summary(result: PassResult, config: str) -> dict[str, Any]:
    return {
        "config": config,
        "objective": result.objective,
        **point(result.mean_cost, result.accuracy),
        "picks": picks(result.choices),
    }


def online_summary(online: PassResult, value: float, scale: float) -> dict[str, Any]:
    curve = rolling(online.quality, WINDOW)
    at = {str(k): curve[k - 1] for k in CHECKPOINTS if k <= len(curve)}
    at["end"] = curve[-1] if curve else 0.0
    return {
        "config": f"utility ${value:g}, Thompson ×{scale:g}",
        "exploration": scale,
        **point(online.mean_cost, online.accuracy),
        "window": WINDOW,
        "rolling_accuracy_at": at,
        "rolling_accuracy": curve,
        "picks": picks(online.choices),
    }


def ips_summary(
    logs: PassResult, target: PassResult, *, target_name: str, logging_name: str
) -> dict[str, Any]:
    """The target policy's accuracy and cost estimated from ``logs``, next to its true ones."""
    matches = [a == b for a, b in zip(target.choices, logs.choices, strict=True)]
    accuracy = ips(matches, logs.propensity, logs.quality)
    cost = ips(matches, logs.propensity, logs.cost)
    matched = [r for m, r in zip(matches, logs.quality, strict=True) if m]
    return {
        "target": target_name,
        "logging": logging_name,
        "true": point(target.mean_cost, target.accuracy),
        "ips": point(cost.ips, accuracy.ips),
        "ips_stderr": point(cost.ips_stderr, accuracy.ips_stderr),
        "snips": point(cost.snips or 0.0, accuracy.snips or 0.0),
        "snips_stderr": point(cost.snips_stderr or 0.0, accuracy.snips_stderr or 0.0),
        # What ignoring the propensities would say: biased toward where the logger went.
        "unweighted_matched_accuracy": sum(matched) / len(matched) if matched else None,
        "matched": accuracy.matched,
        "n": accuracy.n,
        "effective_n": round(accuracy.effective_n, 1),
        "propensity_min": min(logs.propensity),
        "propensity_mean": sum(logs.propensity) / len(logs.propensity),
    }


def score(report: dict[str, Any]) -> None:
    """AIQ and CostSave for every policy, over one cost range shared by all of them."""
    best = report["baselines"]["best single"]
    families: dict[str, list[dict[str, Any]]] = {
        "kNN router": report["knn"]["configs"],
        **{name: family["configs"] for name, family in report.get("per_task", {}).items()},
        "exchange (warm)": report["exchange"]["configs"],
    }
    points = [*report["singles"].values(), *report["baselines"].values()]
    points += [p for configs in families.values() for p in configs]
    points += report["exchange"]["online"]
    c_min = min(p["cost_usd"] for p in points)
    c_max = max(p["cost_usd"] for p in points)
    report["cost_range"] = {"c_min": c_min, "c_max": c_max}

    def scored(configs: Sequence[dict[str, Any]]) -> dict[str, Any]:
        pts = [(p["cost_usd"], p["accuracy"]) for p in configs]
        return {
            "aiq": aiq(pts, c_min, c_max),
            "cost_save": cost_save(pts, best["accuracy"], best["cost_usd"]),
        }

    for policy in [*report["singles"].values(), *report["baselines"].values()]:
        policy.update(scored([policy]))
    report["families"] = {name: scored(configs) for name, configs in families.items()}
    for online in report["exchange"]["online"]:
        online.update(scored([online]))


def targets(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, each met or not; notes each online run's first query at goal."""
    best = report["baselines"]["best single"]["accuracy"]
    exchange = report["families"]["exchange (warm)"]
    goal = 0.95 * best
    others = {n: f for n, f in report["families"].items() if n != "exchange (warm)"}
    best_other = max(others, key=lambda n: others[n]["aiq"])
    found: dict[str, Any] = {
        "exchange CostSave at best-single accuracy ≥ 30%": exchange["cost_save"] is not None
        and exchange["cost_save"] >= 0.3,
        "exchange CostSave at best-single accuracy ≥ 50%": exchange["cost_save"] is not None
        and exchange["cost_save"] >= 0.5,
        f"exchange AIQ ≥ every baseline's (best: {best_other})": bool(
            exchange["aiq"] >= others[best_other]["aiq"]
        ),
    }
    for online in report["exchange"]["online"]:
        curve = online["rolling_accuracy"]
        first = next((i + 1 for i, v in enumerate(curve) if i + 1 >= WINDOW and v >= goal), None)
        online["first_query_at_95%_of_best"] = first
        found[f"online ×{online['exploration']:g}: rolling-{WINDOW} ≥ {goal:.3f} by query 400"] = (
            first is not None and first <= 400
        )
    return found
