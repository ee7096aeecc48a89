"""Routing on recorded outcomes: the exchange against RouterBench's baselines, in one run.

    .venv/bin/python benchmarks/routing.py [--data DIR] [--limit N] [--seed S] [--out FILE]
    atomic bench routing [--data DIR] [--limit N] [--seed S] [--out FILE]

Data: a RouterBench-format folder (default ``../shared/data/routerbench``): ``*_train.csv`` and
``*_test.csv`` with, per model, a 0/1 quality column, ``|model_response`` and ``|total_cost``.
No LLM is called: :class:`atomic.models.ReplayModel` serves the recorded answers and costs.

Policies, all evaluated on the test split (its prompts in one seeded random order):

* every single model; **random** (the expectation of a uniform pick); **cheapest** and **best
  single** (by mean cost and accuracy on the train split); the per-query **oracle** (the
  cheapest model that was right, else the cheapest).
* the **kNN router** (``_knn.py``), trained on every model's train outcomes, swept over the
  same willingness-to-pay values and quality floors as the exchange.
* the **exchange, warm**: its learner first observes every train row's outcome for every model
  (``Exchange.observe``), then one pass per objective (``Utility(value_usd=v)`` for a
  log-spaced ``v``, and ``MinCost(floor)``), each prompt a real ``Atomic.run`` with
  ``TaskPolicy(contextual=True, reward_from_checks=False, max_cascade=1)`` followed by
  ``record_outcome`` with the served model's quality only (bandit feedback).
* the **exchange, cold-start online**: no training, Thompson sampling, bandit feedback; rolling
  accuracy of the last 100 queries at 100, 200, 400, 800 queries and at the end.
* **IPS**: the warm exchange with exploration 0 and no feedback (a fixed, deterministic policy)
  is estimated from the online run's logs (served model, propensity from each run's stored
  AuctionRecord, quality) and compared with its value measured by running it.

Metrics (defined in ``_metrics.py``): accuracy, mean $/query, CostSave at the best single
model's accuracy (LLMRouterBench) and AIQ (RouterBench), each family over its configurations.
Prints a table, writes JSON and a PNG of the cost–quality frontier next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from atomic.exchange import MinCost, TaskPolicy, Utility
from atomic.models import load_routerbench

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._knn import KNNRouter
from benchmarks._metrics import aiq, cost_save, ips
from benchmarks._routing_exchange import LearnerConfig, PassResult, run_pass, warm_states
from benchmarks._routing_plot import plot_frontier
from benchmarks._routing_report import policy_table, side_tables

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "routerbench"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "routing.json"
DEFAULT_VALUES = tuple(round(10 ** (e / 3), 8) for e in range(-12, 1))  # $0.0001 … $1
DEFAULT_FLOORS = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
CHECKPOINTS = (100, 200, 400, 800)
WINDOW = 100

console = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _point(cost: float, quality: float) -> dict[str, float]:
    return {"cost_usd": float(cost), "accuracy": float(quality)}


def _picks(choices: Sequence[int] | Sequence[str], names: Sequence[str]) -> dict[str, int]:
    counted = Counter(names[c] if isinstance(c, int | np.integer) else c for c in choices)
    return dict(counted.most_common())


def _rolling(quality: Sequence[float], window: int) -> list[float]:
    values = np.asarray(quality, dtype=float)
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return [float(x) for x in (sums[ends] - sums[starts]) / (ends - starts)]


def _static_policies(
    q: np.ndarray,
    c: np.ndarray,
    train_cost: np.ndarray,
    train_acc: np.ndarray,
    names: Sequence[str],
) -> dict[str, Any]:
    rows = np.arange(len(q))
    singles = {name: _point(c[:, j].mean(), q[:, j].mean()) for j, name in enumerate(names)}
    cheapest = int(np.argmin(train_cost))
    best = int(max(range(len(names)), key=lambda j: (train_acc[j], -train_cost[j])))
    correct_cost = np.where(q >= 0.5, c, np.inf)
    any_correct = np.isfinite(correct_cost).any(axis=1)
    oracle = np.where(any_correct, np.argmin(correct_cost, axis=1), np.argmin(c, axis=1))
    return {
        "singles": singles,
        "baselines": {
            "random": {**_point(c.mean(), q.mean()), "config": "uniform pick (expectation)"},
            "cheapest": {**singles[names[cheapest]], "config": names[cheapest]},
            "best single": {**singles[names[best]], "config": names[best]},
            "oracle": {
                **_point(c[rows, oracle].mean(), q[rows, oracle].mean()),
                "config": "cheapest correct model per query",
                "picks": _picks(oracle.tolist(), names),
            },
        },
        "best_index": best,
    }


def _knn_family(
    args: argparse.Namespace,
    train_rows: Sequence[Any],
    test_rows: Sequence[Any],
    names: Sequence[str],
    q: np.ndarray,
    c: np.ndarray,
    train_cost: np.ndarray,
) -> dict[str, Any]:
    train_q = np.array([[r.quality[m] for m in names] for r in train_rows])
    router, scores = KNNRouter.tuned([r.prompt for r in train_rows], train_q, seed=args.seed)
    predicted = router.predict([r.prompt for r in test_rows])
    rows = np.arange(len(q))
    configs = []
    for value in args.values:
        chosen = KNNRouter.route(predicted, train_cost, value)
        configs.append(
            {
                "config": f"utility ${value:g}",
                **_point(c[rows, chosen].mean(), q[rows, chosen].mean()),
                "picks": _picks(chosen, names),
            }
        )
    for floor in args.floors:
        # MinCost's rule on the kNN's predictions: the cheapest model predicted to reach the
        # floor, else the likeliest.
        reach = np.where(predicted >= floor, train_cost[None, :], np.inf)
        chosen = np.where(
            np.isfinite(reach).any(axis=1), np.argmin(reach, axis=1), np.argmax(predicted, axis=1)
        )
        configs.append(
            {
                "config": f"min-cost ≥{floor:g}",
                **_point(c[rows, chosen].mean(), q[rows, chosen].mean()),
                "picks": _picks(chosen, names),
            }
        )
    return {
        "k": router.k,
        "validation_brier": scores,
        "embedding": "TF-IDF 1-2 grams, cosine",
        "configs": configs,
    }


def _pass_summary(result: PassResult, config: str) -> dict[str, Any]:
    return {
        "config": config,
        "objective": result.objective,
        **_point(result.mean_cost, result.accuracy),
        "picks": _picks(result.choices, []),
    }


async def _exchange(
    args: argparse.Namespace, train: Any, test: Any, test_rows: Sequence[Any]
) -> dict[str, Any]:
    learner = LearnerConfig(dims=args.dims, prior_strength=args.prior_strength)
    base = {"contextual": True, "reward_from_checks": False, "max_cascade": 1}
    sweep = [(f"utility ${v:g}", Utility(value_usd=v)) for v in args.values]
    sweep += [(f"min-cost ≥{f:g}", MinCost(floor=f)) for f in args.floors]
    n = len(test_rows)
    out: dict[str, Any] = {
        "learner": dataclasses.asdict(learner),
        "warm_exploration": args.exploration,
        "configs": [],
    }
    with tempfile.TemporaryDirectory(prefix="atomic-routing-") as tmp, _progress() as progress:
        home = Path(tmp)
        bar = progress.add_task("warm start (train rows)", total=len(train.rows))
        t0 = time.perf_counter()
        warm = await warm_states(
            home / "warm",
            train,
            _models(test, train),
            learner,
            args.seed,
            on_row=lambda: progress.advance(bar),
        )
        out["warm_seconds"] = round(time.perf_counter() - t0, 1)
        bar = progress.add_task("exchange passes (queries)", total=n * (len(sweep) + 2))
        for i, (config, objective) in enumerate(sweep):
            progress.update(bar, description=f"exchange warm · {config}")
            policy = TaskPolicy(objective=objective, exploration=args.exploration, **base)
            result = await run_pass(
                home / f"warm-{i}",
                config,
                test_rows,
                test,
                train,
                policy,
                learner=learner,
                seed=args.seed,
                warm=warm,
                on_row=lambda: progress.advance(bar),
            )
            out["configs"].append(_pass_summary(result, config))
        progress.update(bar, description="exchange cold-start online (Thompson)")
        online_policy = TaskPolicy(
            objective=Utility(value_usd=args.online_value),
            exploration=args.online_exploration,
            **base,
        )
        online = await run_pass(
            home / "online",
            "online",
            test_rows,
            test,
            train,
            online_policy,
            learner=learner,
            seed=args.seed,
            warm=None,
            explain=True,
            on_row=lambda: progress.advance(bar),
        )
        progress.update(bar, description="exchange warm, frozen (IPS target)")
        target_policy = TaskPolicy(
            objective=Utility(value_usd=args.ips_value), exploration=0.0, **base
        )
        target = await run_pass(
            home / "target",
            "target",
            test_rows,
            test,
            train,
            target_policy,
            learner=learner,
            seed=args.seed,
            warm=warm,
            feedback=False,
            on_row=lambda: progress.advance(bar),
        )
    out["online"] = _online_summary(args, online)
    out["ips"] = _ips_summary(args, online, target)
    return out


def _models(test: Any, train: Any) -> list[Any]:
    from atomic.models import replay_models

    return replay_models(test, price_from=train)


def _online_summary(args: argparse.Namespace, online: PassResult) -> dict[str, Any]:
    rolling = _rolling(online.quality, WINDOW)
    at = {str(k): rolling[k - 1] for k in CHECKPOINTS if k <= len(rolling)}
    at["end"] = rolling[-1] if rolling else 0.0
    return {
        "config": f"utility ${args.online_value:g}, Thompson ×{args.online_exploration:g}",
        **_point(online.mean_cost, online.accuracy),
        "window": WINDOW,
        "rolling_accuracy_at": at,
        "rolling_accuracy": rolling,
        "picks": _picks(online.choices, []),
    }


def _ips_summary(
    args: argparse.Namespace, online: PassResult, target: PassResult
) -> dict[str, Any]:
    matches = [a == b for a, b in zip(target.choices, online.choices, strict=True)]
    accuracy = ips(matches, online.propensity, online.quality)
    cost = ips(matches, online.propensity, online.cost)
    matched_q = [r for m, r in zip(matches, online.quality, strict=True) if m]
    return {
        "target": f"exchange warm, utility ${args.ips_value:g}, exploration 0, no feedback",
        "logging": "exchange cold-start online (Thompson) run",
        "true": _point(target.mean_cost, target.accuracy),
        "ips": _point(cost.ips, accuracy.ips),
        "snips": _point(cost.snips or 0.0, accuracy.snips or 0.0),
        "unweighted_matched_mean_accuracy": sum(matched_q) / len(matched_q) if matched_q else None,
        "matched": accuracy.matched,
        "n": accuracy.n,
        "effective_n": round(accuracy.effective_n, 1),
        "propensity_min": min(online.propensity),
        "propensity_mean": sum(online.propensity) / len(online.propensity),
    }


def _score(report: dict[str, Any]) -> None:
    """AIQ and CostSave for every policy, over one shared cost range."""
    best = report["baselines"]["best single"]
    families: dict[str, list[dict[str, Any]]] = {
        "kNN router": report["knn"]["configs"],
        "exchange (warm)": report["exchange"]["configs"],
    }
    points = [p for p in report["singles"].values()] + list(report["baselines"].values())
    points += [p for configs in families.values() for p in configs]
    points.append(report["exchange"]["online"])
    c_min = min(p["cost_usd"] for p in points)
    c_max = max(p["cost_usd"] for p in points)
    report["cost_range"] = {"c_min": c_min, "c_max": c_max}

    def scored(configs: Sequence[dict[str, Any]]) -> dict[str, Any]:
        pts = [(p["cost_usd"], p["accuracy"]) for p in configs]
        return {
            "aiq": aiq(pts, c_min, c_max),
            "cost_save": cost_save(pts, best["accuracy"], best["cost_usd"]),
        }

    for group in (report["singles"], report["baselines"]):
        for policy in group.values():
            policy.update(scored([policy]))
    for name, configs in families.items():
        report["families"][name] = scored(configs)
    report["exchange"]["online"].update(scored([report["exchange"]["online"]]))


def _targets(report: dict[str, Any]) -> dict[str, Any]:
    best = report["baselines"]["best single"]["accuracy"]
    exchange = report["families"]["exchange (warm)"]
    rolling = report["exchange"]["online"]["rolling_accuracy"]
    goal = 0.95 * best
    first = next((i + 1 for i, v in enumerate(rolling) if i + 1 >= WINDOW and v >= goal), None)
    return {
        "cost_save_at_best_single_>=_50%": exchange["cost_save"] is not None
        and exchange["cost_save"] >= 0.5,
        "exchange_aiq_>_knn_aiq": exchange["aiq"] > report["families"]["kNN router"]["aiq"],
        "online_rolling_95%_of_best_within_400": first is not None and first <= 400,
        "online_first_query_reaching_95%_of_best": first,
        "online_goal_accuracy": goal,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load, evaluate every policy, score; the report as a dict."""
    train, test = load_routerbench(args.data, "train"), load_routerbench(args.data, "test")
    names = list(test.models)
    train_rows, test_rows = list(train.rows), list(test.rows)
    rng = random.Random(args.seed)
    rng.shuffle(train_rows)
    rng.shuffle(test_rows)
    if args.limit is not None:
        train_rows, test_rows = train_rows[: args.limit], test_rows[: args.limit]
        train = dataclasses.replace(train, rows=tuple(train_rows))
    q = np.array([[r.quality[m] for m in names] for r in test_rows])
    c = np.array([[r.cost[m] for m in names] for r in test_rows])
    train_cost = np.array([train.mean_cost(m) for m in names])
    train_acc = np.array([train.accuracy(m) for m in names])
    report: dict[str, Any] = {
        "data": {
            "folder": str(args.data),
            "models": names,
            "train_rows": len(train_rows),
            "test_rows": len(test_rows),
            "skipped_empty": {"train": train.skipped, "test": test.skipped},
            "files": [p.name for p in (*train.files, *test.files)],
        },
        "families": {},
        "seconds": {},
    }
    static = _static_policies(q, c, train_cost, train_acc, names)
    report["singles"], report["baselines"] = static["singles"], static["baselines"]
    t0 = time.perf_counter()
    report["knn"] = _knn_family(args, train_rows, test_rows, names, q, c, train_cost)
    report["seconds"]["knn"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    report["exchange"] = await _exchange(args, train, test, test_rows)
    report["seconds"]["exchange"] = round(time.perf_counter() - t0, 1)
    _score(report)
    report["targets"] = _targets(report)
    return report


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--data", type=Path, default=DEFAULT_DATA, help="RouterBench-format folder (%(default)s)")
    add("--out", type=Path, default=DEFAULT_OUT, help="JSON output; the PNG goes next to it")
    add("--limit", type=int, default=None, help="use the first N (shuffled) rows of each split")
    add("--seed", type=int, default=0, help="stream order, kNN validation split, exploration")
    add(
        "--values",
        type=float,
        nargs="+",
        default=list(DEFAULT_VALUES),
        help="USD per correct answer for the Utility sweep (and the kNN's willingness to pay)",
    )
    add(
        "--floors",
        type=float,
        nargs="+",
        default=list(DEFAULT_FLOORS),
        help="P(success) floors for the MinCost sweep",
    )
    add("--dims", type=int, default=64, help="learner feature dimensions (%(default)s)")
    add("--prior-strength", type=float, default=2.0, help="Beta prior pseudo-calls")
    add("--exploration", type=float, default=0.0, help="warm sweep exploration (%(default)s)")
    add("--online-value", type=float, default=1.0, help="online run's USD per correct answer")
    add("--online-exploration", type=float, default=1.0, help="online Thompson scale")
    add("--ips-value", type=float, default=1.0, help="IPS target's USD per correct answer")
    return parser.parse_args(argv)


def _versions() -> dict[str, str]:
    found = {}
    for name in ("atomic", "numpy", "scikit-learn", "matplotlib"):
        try:
            found[name] = version(name)
        except Exception:
            found[name] = "not installed"
    return found


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its tables, write JSON and PNG; return the report."""
    args = parse_args(argv)
    started = time.perf_counter()
    report = {
        "benchmark": "routing",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": _versions(),
        **asyncio.run(run(args)),
    }
    report["seconds"]["total"] = round(time.perf_counter() - started, 1)
    console.print(policy_table(report))
    for table in side_tables(report):
        console.print(table)
    png = args.out.with_suffix(".png")
    report["png"] = str(png)
    plot_frontier(
        png,
        singles={n: (p["cost_usd"], p["accuracy"]) for n, p in report["singles"].items()},
        baselines={
            n: (p["cost_usd"], p["accuracy"])
            for n, p in report["baselines"].items()
            if n in ("random", "oracle")
        },
        families={
            "kNN router": [(p["cost_usd"], p["accuracy"]) for p in report["knn"]["configs"]],
            "exchange (warm)": [
                (p["cost_usd"], p["accuracy"]) for p in report["exchange"]["configs"]
            ],
        },
        online={
            "exchange online (cold)": (
                report["exchange"]["online"]["cost_usd"],
                report["exchange"]["online"]["accuracy"],
            )
        },
        c_max=report["cost_range"]["c_max"],
        title=f"RouterBench test split ({report['data']['test_rows']} prompts): cost vs accuracy",
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"[dim]{report['seconds']['total']:.0f} s · wrote {args.out} and {png}[/dim]")
    return report


if __name__ == "__main__":
    main()
