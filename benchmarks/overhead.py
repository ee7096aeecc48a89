"""What the exchange costs per call, on a model that answers instantly.

1. Auction latency (eligibility, bids, clearing) in microseconds against the number of
   bidders, context-free and contextual, before and after correctness feedback (after it,
   bids draw both validity and correctness); and, separately, the propensity logged with
   each auction, computed as a call computes it (from the learner's own draws).
   ``--baseline-src OTHER/src`` measures the same auctions on another checkout's code in a
   subprocess and puts its numbers beside these (``git worktree add /tmp/base REV``).
2. End-to-end overhead of a call (auction + prompt + parse + validate + persist) against a
   direct call of the same model, on SQLite and on PostgreSQL side by side (a throwaway
   PostgreSQL server is started from the machine's binaries unless ``--pg-url`` is given).

    .venv/bin/python benchmarks/overhead.py [--out benchmarks/results/overhead.json]
    .venv/bin/python benchmarks/overhead.py --auctions-only --bidders 8 --baseline-src /tmp/base/src

Everything runs in one process, in one run, so the ratios hold on a noisy machine; absolute
numbers depend on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from atomic import Atomic, AtomicSettings, Task
from atomic.exchange import TaskPolicy, Utility
from atomic.exchange._auction import AuctionInput, propensity
from atomic.learning import Observation
from atomic.models import FunctionModel, Message, ModelRequest, OutputSpec, Price, function_card
from atomic.structured import decode

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import postgres_url, write_report

console = Console()


class Ticket(BaseModel):
    text: str


TASK = Task(
    "overhead-probe",
    input=Ticket,
    output=Literal["billing", "cards", "transfers"],
    instructions="Route the ticket.",
)
TEXT = "My card payment at the supermarket was declined twice this morning."


def _models(n: int) -> list[FunctionModel]:
    return [
        FunctionModel(
            lambda request: '{"label": "cards"}',
            card=function_card(f"fn:bidder-{i}", price=Price(per_call=0.0001 * (i + 1))),
        )
        for i in range(n)
    ]


def _quantiles(samples_s: list[float], scale: float) -> dict[str, float]:
    ordered = sorted(samples_s)
    return {
        "p50": ordered[len(ordered) // 2] * scale,
        "p95": ordered[int(len(ordered) * 0.95)] * scale,
        "p99": ordered[int(len(ordered) * 0.99)] * scale,
    }


async def bench_auctions(
    bidders: list[int], auctions: int, progress: Progress | None, clock: str = "wall"
) -> list[dict[str, Any]]:
    rows = []
    bar = progress.add_task("auctions", total=len(bidders) * 4) if progress else None
    for n in bidders:
        models = _models(n)
        for judged in (False, True):
            with tempfile.TemporaryDirectory() as home:
                settings = AtomicSettings(home=Path(home), local_models=[])
                async with await Atomic.open(
                    settings, models=models, tasks=[TASK], seed=1
                ) as atomic:
                    if judged:
                        _judge(atomic, models)
                    for contextual in (False, True):
                        row = _time_auctions(atomic, models, contextual, auctions, clock)
                        rows.append({"bidders": n, "judged": judged, **row})
                        if progress and bar is not None:
                            progress.advance(bar)
    return rows


def _judge(atomic: Atomic, models: list[FunctionModel]) -> None:
    """One correctness judgement per model, context-free and contextual: from then on every
    bid draws both its validity and its correctness."""
    learner = atomic.exchange.learner
    x = learner.featurize(json.dumps({"text": TEXT}))
    for model in models:
        key = ("default", TASK.name, model.id)
        for features in (None, x):
            learner.observe(Observation(key, "validity", 1.0, x=features), model.card)
            learner.observe(Observation(key, "correctness", 1.0, x=features), model.card)


def _time_auctions(
    atomic: Atomic, models: list[FunctionModel], contextual: bool, auctions: int, clock: str
) -> dict[str, Any]:
    exchange = atomic.exchange
    text = json.dumps({"text": TEXT})
    call = AuctionInput(
        tenant="default",
        task=TASK,
        text=text,
        features=exchange.learner.featurize(text) if contextual else None,
        objective=Utility(),
        exploration=1.0,
    )
    auctioneer = exchange.auctioneer
    rng = np.random.default_rng(0)
    for _ in range(min(200, auctions)):  # warm the posteriors and caches
        exchange.auction(call, models)
    # CPU time leaves out the time other processes hold the CPU (a busy shared machine).
    now = time.process_time if clock == "cpu" else time.perf_counter
    times, prop_times = [], []
    for _ in range(auctions):
        start = now()
        record, ranked = exchange.auction(call, models)
        times.append(now() - start)
        # As `Exchange.run` computes it: the learner's own draws, then the re-cleared auctions.
        start = now()
        draws = auctioneer.propensity_draws(call, record.bids)
        propensity(call.objective, record.bids, ranked[0].id, 1.0, TASK.value_usd, rng, draws)
        prop_times.append(now() - start)
    total = [a + b for a, b in zip(times, prop_times, strict=True)]
    return {
        "contextual": contextual,
        "auction_us": _quantiles(times, 1e6),
        "propensity_us": _quantiles(prop_times, 1e6),
        "total_us": _quantiles(total, 1e6),
    }


def _baseline(src: str, bidders: str, auctions: int, clock: str) -> list[dict[str, Any]]:
    """The same auctions on another checkout's ``src`` (this file's benchmark code), in a
    subprocess so the two versions of ``atomic`` never meet."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(src).resolve()), str(root)])}
    argv = [sys.executable, "-m", "benchmarks.overhead", "--auctions-json"]
    argv += ["--bidders", bidders, "--auctions", str(auctions), "--clock", clock]
    done = subprocess.run(argv, env=env, cwd=root, capture_output=True, text=True, check=True)
    rows: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


async def _direct(model: FunctionModel, calls: int) -> list[float]:
    request = ModelRequest(
        messages=(Message(role="user", content=TEXT),),
        output=OutputSpec(name=TASK.name, json_schema=TASK.schema.wire_schema),
    )
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        response = await model.invoke(request)
        decode(TASK.schema, response.text)
        times.append(time.perf_counter() - start)
    return times


async def _paired_observability(calls: int, home: Path) -> dict[str, Any]:
    """Calls with and without traces and metrics, alternating on one Atomic, so both kinds
    see the same store, caches and machine load: metrics and traces subscribed as in
    production, spans batched to an exporter in a background thread (in memory here).

    Each call is timed by the wall clock and by the process's CPU time (every thread's, the
    exporter's included); the share is the ratio of mean CPU times, which a busy machine moves
    far less than wall-clock medians."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from atomic.observability import Metrics, Traces

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    metrics, traces = Metrics(), Traces(provider)
    settings = AtomicSettings(
        home=home, database_url=f"sqlite:///{home}/paired.db", local_models=[]
    )
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    async with await Atomic.open(settings, models=_models(1)[:1], tasks=[TASK], seed=1) as atomic:
        atomic.exchange.configure(TASK.name, TaskPolicy())
        for i in range(2 * calls + 20):
            observed = i % 2 == 1
            undo = (
                [
                    atomic.exchange.events.subscribe(metrics),
                    atomic.exchange.events.subscribe(traces),
                ]
                if observed
                else []
            )
            start, start_cpu = time.perf_counter(), time.process_time()
            await atomic.run(TASK, {"text": f"{TEXT} #{i}"})
            elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
            for remove in undo:
                remove()
            if i >= 20:
                wall[observed].append(elapsed)
                cpu[observed].append(elapsed_cpu)
    provider.shutdown()
    mean = {k: sum(v) / len(v) for k, v in cpu.items()}
    return {
        "plain_ms": _quantiles(wall[False], 1e3),
        "observed_ms": _quantiles(wall[True], 1e3),
        "plain_cpu_ms_mean": mean[False] * 1e3,
        "observed_cpu_ms_mean": mean[True] * 1e3,
        "share_cpu": mean[True] / mean[False] - 1,
        "share_wall_p50": _quantiles(wall[True], 1)["p50"] / _quantiles(wall[False], 1)["p50"] - 1,
    }


async def _through_atomic(database_url: str, calls: int, home: Path) -> list[float]:
    model = _models(1)[0]
    settings = AtomicSettings(home=home, database_url=database_url, local_models=[])
    times = []
    async with await Atomic.open(settings, models=[model], tasks=[TASK], seed=1) as atomic:
        atomic.exchange.configure(TASK.name, TaskPolicy())
        for i in range(calls + 20):
            start = time.perf_counter()
            await atomic.run(TASK, {"text": f"{TEXT} #{i}"})
            if i >= 20:  # the first calls warm connections and caches
                times.append(time.perf_counter() - start)
    return times


async def bench_calls(calls: int, pg_url: str | None, progress: Progress) -> dict[str, Any]:
    bar = progress.add_task("end-to-end calls", total=4)
    direct = await _direct(_models(1)[0], calls)
    progress.advance(bar)
    results: dict[str, Any] = {"direct_ms": _quantiles(direct, 1e3)}
    with tempfile.TemporaryDirectory() as home:
        sqlite = await _through_atomic(f"sqlite:///{home}/bench.db", calls, Path(home))
        progress.advance(bar)
        results["sqlite_ms"] = _quantiles(sqlite, 1e3)
        paired = await _paired_observability(calls, Path(home))
        progress.advance(bar)
        results["observability"] = paired
        results["sqlite_observed_ms"] = paired["observed_ms"]
        if pg_url is not None:
            postgres = await _through_atomic(pg_url, calls, Path(home))
            results["postgres_ms"] = _quantiles(postgres, 1e3)
        progress.advance(bar)
    base = results["direct_ms"]["p50"]
    for backend in ("sqlite", "sqlite_observed", "postgres"):
        if f"{backend}_ms" in results:
            results[f"{backend}_overhead_ms_p50"] = results[f"{backend}_ms"]["p50"] - base
    # What traces and metrics add to a call: its CPU time with them over without, paired.
    results["observability_share_of_overhead"] = paired["share_cpu"]
    return results


def _auction_table(
    auctions: list[dict[str, Any]], baseline: list[dict[str, Any]] | None, clock: str
) -> Table:
    table = Table(
        title=f"Auction and the propensity logged with it, µs p50 ({clock} time)",
        caption="auction: eligibility, bids, clearing; judged: bids draw correctness too"
        + ("; was: --baseline-src" if baseline else ""),
    )
    columns = ["n", "bids", "judged", "auction"]
    columns += ["was", "propensity", "was", "total ×"] if baseline else ["propensity"]
    for column in columns:
        table.add_column(column, justify="right")
    before = {(r["bidders"], r["judged"], r["contextual"]): r for r in baseline or []}
    for row in auctions:
        key = (row["bidders"], row["judged"], row["contextual"])
        old = before.get(key)
        now = [f"{row[k]['p50']:.1f}" for k in ("auction_us", "propensity_us")]
        cells = [
            str(row["bidders"]),
            "context" if row["contextual"] else "task",
            "yes" if row["judged"] else "no",
        ]
        if not baseline:
            cells += now
        elif old is None:
            cells += [now[0], "", now[1], "", ""]
        else:
            speedup = old["total_us"]["p50"] / row["total_us"]["p50"]
            cells += [now[0], f"{old['auction_us']['p50']:.1f}", now[1]]
            cells += [f"{old['propensity_us']['p50']:.1f}", f"{speedup:.1f}"]
        table.add_row(*cells)
    return table


def _calls_table(calls: dict[str, Any]) -> Table:
    second = Table(title="One call on an instant model, milliseconds")
    for column in ("path", "p50", "p95", "overhead p50", "× direct"):
        second.add_column(column, justify="right")
    base = calls["direct_ms"]["p50"]
    for key, label in (
        ("direct_ms", "direct invoke + parse"),
        ("sqlite_ms", "atomic.run, SQLite"),
        ("sqlite_observed_ms", "  + traces and metrics (paired)"),
        ("postgres_ms", "atomic.run, PostgreSQL"),
    ):
        if key in calls:
            q = calls[key]
            second.add_row(
                label,
                f"{q['p50']:.3f}",
                f"{q['p95']:.3f}",
                f"{q['p50'] - base:.3f}",
                f"{q['p50'] / base:.0f}",
            )
    return second


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bidders = [int(n) for n in args.bidders.split(",")]
    calls: dict[str, Any] | None = None
    with Progress(console=console, transient=True) as progress:
        auctions = await bench_auctions(bidders, args.auctions, progress, args.clock)
        baseline = None
        if args.baseline_src:
            progress.add_task(f"baseline auctions ({args.baseline_src})", total=None)
            baseline = _baseline(args.baseline_src, args.bidders, args.auctions, args.clock)
        if not args.auctions_only:
            with postgres_url(args.pg_url, not args.no_postgres, "atomic_bench") as pg_url:
                calls = await bench_calls(args.calls, pg_url, progress)

    def p50(rows: list[dict[str, Any]] | None, contextual: bool, judged: bool) -> Any:
        return next(
            (
                {k: r[k]["p50"] for k in ("auction_us", "propensity_us", "total_us")}
                for r in rows or []
                if r["bidders"] == 8 and r["contextual"] == contextual and r["judged"] == judged
            ),
            None,
        )

    report = {
        "benchmark": "overhead",
        "date": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "args": vars(args),
        "auctions": auctions,
        "baseline_auctions": baseline,
        "calls": calls,
        "auction_p50_us_8_bidders_per_task": (p50(auctions, False, False) or {}).get("auction_us"),
        "p50_us_8_bidders": {
            f"{'contextual' if c else 'per_task'}{'_judged' if j else ''}": {
                "after": p50(auctions, c, j),
                "before": p50(baseline, c, j),
            }
            for c in (False, True)
            for j in (False, True)
        },
    }
    console.print(_auction_table(auctions, baseline, args.clock))
    if calls is not None:
        console.print(_calls_table(calls))
        paired = calls["observability"]
        console.print(
            "Traces and metrics add "
            f"{calls['observability_share_of_overhead']:+.1%} to a call's CPU time on SQLite "
            f"({paired['plain_cpu_ms_mean']:.2f} → {paired['observed_cpu_ms_mean']:.2f} ms, "
            f"calls alternating on one store; wall-clock p50 {paired['share_wall_p50']:+.1%})."
        )
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bidders", default="1,4,8,16,64", help="bidder counts, comma-separated")
    p.add_argument("--auctions", type=int, default=3000, help="auctions per configuration")
    p.add_argument("--calls", type=int, default=300, help="calls per end-to-end path")
    p.add_argument("--pg-url", default=None, help="use this PostgreSQL instead of a throwaway one")
    p.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    p.add_argument("--auctions-only", action="store_true", help="skip the end-to-end calls")
    p.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="time auctions by the wall clock, or by the process's CPU time (a busy machine)",
    )
    p.add_argument(
        "--baseline-src",
        default=None,
        help="another checkout's src/ to measure the same auctions on, for a before/after",
    )
    p.add_argument("--auctions-json", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default="benchmarks/results/overhead.json")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.auctions_json:  # the baseline's subprocess: auction rows only, as JSON on stdout
        bidders = [int(n) for n in args.bidders.split(",")]
        rows = asyncio.run(bench_auctions(bidders, args.auctions, None, args.clock))
        print(json.dumps(rows))
        return {"auctions": rows}
    report = asyncio.run(run(args))
    write_report(report, args.out, console)
    return report


if __name__ == "__main__":
    main()
