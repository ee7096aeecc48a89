"""What the exchange costs per call, on a model that answers instantly.

1. Auction latency (eligibility, bids, clearing) in microseconds against the number of
   bidders, context-free and contextual; and, separately, the propensity estimate that is
   logged with each auction.
2. End-to-end overhead of a call (auction + prompt + parse + validate + persist) against a
   direct call of the same model, on SQLite and on PostgreSQL side by side (a throwaway
   PostgreSQL server is started from the machine's binaries unless ``--pg-url`` is given).

    .venv/bin/python benchmarks/overhead.py [--out benchmarks/results/overhead.json]

Everything runs in one process, in one run, so the ratios hold on a noisy machine; absolute
numbers depend on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
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
    bidders: list[int], auctions: int, progress: Progress
) -> list[dict[str, Any]]:
    rows = []
    bar = progress.add_task("auctions", total=len(bidders) * 2)
    for n in bidders:
        models = _models(n)
        with tempfile.TemporaryDirectory() as home:
            settings = AtomicSettings(home=Path(home), local_models=[])
            async with await Atomic.open(settings, models=models, tasks=[TASK], seed=1) as atomic:
                exchange = atomic.exchange
                text = json.dumps({"text": TEXT})
                for contextual in (False, True):
                    call = AuctionInput(
                        tenant="default",
                        task=TASK,
                        text=text,
                        features=exchange.learner.featurize(text) if contextual else None,
                        objective=Utility(),
                        exploration=1.0,
                    )
                    for _ in range(min(200, auctions)):  # warm the posteriors and caches
                        exchange.auction(call, models)
                    times, prop_times = [], []
                    rng = np.random.default_rng(0)
                    for _ in range(auctions):
                        start = time.perf_counter()
                        record, ranked = exchange.auction(call, models)
                        times.append(time.perf_counter() - start)
                        start = time.perf_counter()
                        propensity(call.objective, record.bids, ranked[0].id, 1.0, 0.01, rng)
                        prop_times.append(time.perf_counter() - start)
                    rows.append(
                        {
                            "bidders": n,
                            "contextual": contextual,
                            "auction_us": _quantiles(times, 1e6),
                            "propensity_us": _quantiles(prop_times, 1e6),
                        }
                    )
                    progress.advance(bar)
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


def _observe(atomic: Atomic) -> Any:
    """Metrics and traces subscribed as in production: spans batched to an exporter in a
    background thread (in memory here: what is measured is the call path's share)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from atomic.observability import Metrics, Traces

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    atomic.exchange.events.subscribe(Metrics())
    atomic.exchange.events.subscribe(Traces(provider))
    return provider


async def _through_atomic(
    database_url: str, calls: int, home: Path, *, observed: bool = False
) -> list[float]:
    model = _models(1)[0]
    settings = AtomicSettings(home=home, database_url=database_url, local_models=[])
    times = []
    async with await Atomic.open(settings, models=[model], tasks=[TASK], seed=1) as atomic:
        provider = _observe(atomic) if observed else None
        atomic.exchange.configure(TASK.name, TaskPolicy())
        for i in range(calls + 20):
            start = time.perf_counter()
            await atomic.run(TASK, {"text": f"{TEXT} #{i}"})
            if i >= 20:  # the first calls warm connections and caches
                times.append(time.perf_counter() - start)
        if provider is not None:
            provider.shutdown()
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
        observed = await _through_atomic(
            f"sqlite:///{home}/observed.db", calls, Path(home), observed=True
        )
        progress.advance(bar)
        results["sqlite_observed_ms"] = _quantiles(observed, 1e3)
        if pg_url is not None:
            postgres = await _through_atomic(pg_url, calls, Path(home))
            results["postgres_ms"] = _quantiles(postgres, 1e3)
        progress.advance(bar)
    base = results["direct_ms"]["p50"]
    for backend in ("sqlite", "sqlite_observed", "postgres"):
        if f"{backend}_ms" in results:
            results[f"{backend}_overhead_ms_p50"] = results[f"{backend}_ms"]["p50"] - base
    # What traces and metrics add, as a share of the call's overhead without them.
    results["observability_share_of_overhead"] = (
        results["sqlite_observed_overhead_ms_p50"] / results["sqlite_overhead_ms_p50"] - 1
    )
    return results


def _tables(auctions: list[dict[str, Any]], calls: dict[str, Any]) -> tuple[Table, Table]:
    first = Table(title="Auction latency (eligibility + bids + clearing), microseconds")
    for column in ("bidders", "bids", "p50", "p99", "propensity p50"):
        first.add_column(column, justify="right")
    for row in auctions:
        first.add_row(
            str(row["bidders"]),
            "contextual" if row["contextual"] else "per task",
            f"{row['auction_us']['p50']:.1f}",
            f"{row['auction_us']['p99']:.1f}",
            f"{row['propensity_us']['p50']:.1f}",
        )
    second = Table(title="One call on an instant model, milliseconds")
    for column in ("path", "p50", "p95", "overhead p50", "× direct"):
        second.add_column(column, justify="right")
    base = calls["direct_ms"]["p50"]
    for key, label in (
        ("direct_ms", "direct invoke + parse"),
        ("sqlite_ms", "atomic.run, SQLite"),
        ("sqlite_observed_ms", "  + traces and metrics"),
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
    return first, second


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bidders = [int(n) for n in args.bidders.split(",")]
    with Progress(console=console, transient=True) as progress:
        auctions = await bench_auctions(bidders, args.auctions, progress)
        with postgres_url(args.pg_url, not args.no_postgres, "atomic_bench") as pg_url:
            calls = await bench_calls(args.calls, pg_url, progress)
    report = {
        "benchmark": "overhead",
        "date": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "args": vars(args),
        "auctions": auctions,
        "calls": calls,
        "auction_p50_us_8_bidders_per_task": next(
            (r["auction_us"]["p50"] for r in auctions if r["bidders"] == 8 and not r["contextual"]),
            None,
        ),
    }
    for table in _tables(auctions, calls):
        console.print(table)
    console.print(
        "Traces and metrics add "
        f"{calls['observability_share_of_overhead']:+.1%} to the call's overhead on SQLite."
    )
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bidders", default="1,4,8,16,64", help="bidder counts, comma-separated")
    p.add_argument("--auctions", type=int, default=3000, help="auctions per configuration")
    p.add_argument("--calls", type=int, default=300, help="calls per end-to-end path")
    p.add_argument("--pg-url", default=None, help="use this PostgreSQL instead of a throwaway one")
    p.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    p.add_argument("--out", default="benchmarks/results/overhead.json")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    report = asyncio.run(run(args))
    write_report(report, args.out, console)
    return report


if __name__ == "__main__":
    main()
