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
  same willingness-to-pay values and quality floors as the exchange; its ``k`` is the one whose
  sweep has the best AIQ on a validation fifth of the train split.
* **per-task routers** (``_routing_baselines.py``), one per source dataset as a user deploys:
  the dataset alone (one-hot), logistic regression on TF-IDF and on the sentence encoder's
  embedding, kNN and an MLP on the embedding, swept like the kNN router; and a
  **FrugalGPT-style cascade** that reads each answer (a scorer per model decides whether to
  escalate, swept over its threshold) and an **agreement cascade**.
* the **exchange, warm**, with one Atomic task per source dataset (``eval_name``): its learner
  first observes every train row's outcome for every model (``Exchange.observe``), then one
  pass per objective (``Utility(value_usd=v)`` for a log-spaced ``v``, and
  ``MinCost(floor)``), each prompt a real ``Atomic.run`` with ``TaskPolicy(max_cascade=1)``
  (``--contextual``: bids per input from hashed words, instead of each task's posterior)
  followed by ``record_outcome`` with the served model's quality only (bandit feedback).
* the **exchange, cold-start online**: no training, bandit feedback, one run per Thompson
  scale (``--online-exploration``: 1, the library's default, and 0.5, draws shrunk halfway to
  the mean); rolling accuracy of the last 100 queries at 100, 200, 400, 800 and at the end.
* **IPS**: the warm exchange with exploration 0 and no feedback (a fixed, deterministic policy)
  is estimated from the first online run's logs (served model, propensity from each run's
  stored AuctionRecord, quality) and compared with its value measured by running it.

The learner runs with ``Learner(dims=64, decay=0.9999)``: the most features the featurizer
offers, and almost no forgetting, as recorded outcomes do not drift (``--dims``, ``--decay``).

Metrics (defined in ``_metrics.py``): accuracy, mean $/query, CostSave at the best single
model's accuracy (LLMRouterBench) and AIQ (RouterBench), each family over its configurations.
Prints a table, writes JSON and a PNG of the cost–quality frontier next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from atomic.exchange import MinCost, TaskPolicy, Utility
from atomic.models import RouterBenchData, RouterBenchRow, load_routerbench, replay_models

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import report_header
from benchmarks._routing_baselines import cascade_families, per_task_families
from benchmarks._routing_exchange import LearnerConfig, PassResult, run_pass, warm_states
from benchmarks._routing_plot import plot_frontier
from benchmarks._routing_report import policy_table, side_tables
from benchmarks._routing_score import (
    ips_summary,
    knn_family,
    online_summary,
    pass_summary,
    score,
    static_policies,
    sweep_choices,
    targets,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "routerbench"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "routing.json"
DEFAULT_VALUES = tuple(round(10 ** (e / 3), 8) for e in range(-12, 1))  # $0.0001 … $1
DEFAULT_FLOORS = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95)

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


def _scratch() -> str | None:
    # Scratch stores live in memory where the OS offers it: an fsync per commit would double
    # the run time, and durability is not what this benchmark measures.
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _encoder() -> Any:
    """The sentence encoder's batched ``encode`` (the `encoder` extra's MiniLM)."""
    from atomic.encoders import encoder_from_settings
    from atomic.settings import AtomicSettings

    encoder = encoder_from_settings(AtomicSettings(encoder="local"))
    assert encoder is not None

    def encode(texts: Sequence[str]) -> Any:
        return np.asarray(encoder.encode_sync(list(texts)), dtype=float)

    return encode


async def _exchange(
    args: argparse.Namespace,
    train: RouterBenchData,
    test: RouterBenchData,
    test_rows: Sequence[RouterBenchRow],
) -> dict[str, Any]:
    learner = LearnerConfig(dims=args.dims, prior_strength=args.prior_strength, decay=args.decay)
    base = {"contextual": args.contextual, "max_cascade": 1}
    sweep = [(f"utility ${v:.3g}", Utility(value_usd=v)) for v in args.values]
    sweep += [(f"min-cost ≥{f:g}", MinCost(floor=f)) for f in args.floors]
    n = len(test_rows)
    passes = len(sweep) + len(args.online_exploration) + 1
    out: dict[str, Any] = {
        "learner": dataclasses.asdict(learner),
        "warm_exploration": args.exploration,
        "configs": [],
        "online": [],
    }
    with (
        tempfile.TemporaryDirectory(prefix="atomic-routing-", dir=_scratch()) as tmp,
        _progress() as progress,
    ):
        home = Path(tmp)
        bar = progress.add_task("warm start (train rows)", total=len(train.rows))
        t0 = time.perf_counter()
        warm = await warm_states(
            home / "warm",
            train,
            replay_models(test, price_from=train),
            learner,
            args.seed,
            on_row=lambda: progress.advance(bar),
        )
        out["warm_seconds"] = round(time.perf_counter() - t0, 1)
        bar = progress.add_task("exchange passes (queries)", total=n * passes)

        counter = itertools.count()

        async def one(label: str, policy: TaskPolicy, **kw: Any) -> PassResult:
            progress.update(bar, description=f"exchange · {label}")
            return await run_pass(
                home / f"pass-{next(counter)}",
                label,
                test_rows,
                test,
                train,
                policy,
                learner=learner,
                seed=args.seed,
                on_row=lambda: progress.advance(bar),
                **kw,
            )

        for config, objective in sweep:
            policy = TaskPolicy(objective=objective, exploration=args.exploration, **base)
            result = await one(f"warm {config}", policy, warm=warm)
            out["configs"].append(pass_summary(result, config))
        logs: PassResult | None = None
        for scale in args.online_exploration:
            policy = TaskPolicy(
                objective=Utility(value_usd=args.online_value), exploration=scale, **base
            )
            online = await one(f"cold online ×{scale:g}", policy, warm=None, explain=True)
            out["online"].append(online_summary(online, args.online_value, scale))
            logs = logs or online
        target_policy = TaskPolicy(
            objective=Utility(value_usd=args.ips_value), exploration=0.0, **base
        )
        target = await one("IPS target", target_policy, warm=warm, feedback=False)
    assert logs is not None
    out["ips"] = ips_summary(
        logs,
        target,
        target_name=f"exchange warm, utility ${args.ips_value:g}, exploration 0, no feedback",
        logging_name=f"exchange cold-start online run (Thompson ×{args.online_exploration[0]:g})",
    )
    return out


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
        "seconds": {},
    }
    report["singles"], report["baselines"] = static_policies(q, c, train_cost, train_acc, names)
    t0 = time.perf_counter()
    report["knn"] = knn_family(
        train_rows,
        test_rows,
        names,
        q,
        c,
        train_cost,
        values=args.values,
        floors=args.floors,
        seed=args.seed,
    )
    report["seconds"]["knn"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    report["per_task"] = per_task_families(
        train_rows,
        test_rows,
        names,
        q,
        c,
        train_cost,
        choices=lambda predicted: sweep_choices(predicted, train_cost, args.values, args.floors),
        encode=_encoder(),
        seed=args.seed,
    )
    report["per_task"].update(cascade_families(train_rows, test_rows, names, q, c))
    report["seconds"]["per_task"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    report["exchange"] = await _exchange(args, train, test, test_rows)
    report["seconds"]["exchange"] = round(time.perf_counter() - t0, 1)
    score(report)
    report["targets"] = targets(report)
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
    add(
        "--contextual",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="per-input (hashed-word) bids instead of each task's posterior (%(default)s)",
    )
    add("--dims", type=int, default=64, help="learner feature dimensions (%(default)s)")
    add("--prior-strength", type=float, default=2.0, help="Beta prior pseudo-calls")
    add(
        "--decay",
        type=float,
        default=0.9999,
        help="learner forgetting per update; recorded outcomes do not drift (%(default)s)",
    )
    add("--exploration", type=float, default=0.0, help="warm sweep exploration (%(default)s)")
    add("--online-value", type=float, default=1.0, help="online run's USD per correct answer")
    add(
        "--online-exploration",
        type=float,
        nargs="+",
        default=[1.0, 0.5],
        help="one cold-start online run per Thompson scale; the first one's logs feed IPS",
    )
    add("--ips-value", type=float, default=1.0, help="IPS target's USD per correct answer")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its tables, write JSON and PNG; return the report."""
    args = parse_args(argv)
    started = time.perf_counter()
    report = {
        **report_header("routing", args, ("numpy", "scikit-learn", "matplotlib")),
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
            **{
                name: [(p["cost_usd"], p["accuracy"]) for p in family["configs"]]
                for name, family in report["per_task"].items()
            },
            "exchange (warm)": [
                (p["cost_usd"], p["accuracy"]) for p in report["exchange"]["configs"]
            ],
        },
        online={
            f"exchange online (cold, Thompson ×{p['exploration']:g})": (
                p["cost_usd"],
                p["accuracy"],
            )
            for p in report["exchange"]["online"]
        },
        c_max=report["cost_range"]["c_max"],
        best_single=report["baselines"]["best single"]["accuracy"],
        title=f"RouterBench test split ({report['data']['test_rows']} prompts): cost vs accuracy",
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"[dim]{report['seconds']['total']:.0f} s · wrote {args.out} and {png}[/dim]")
    return report


if __name__ == "__main__":
    main()
