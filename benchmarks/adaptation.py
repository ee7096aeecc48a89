"""Inference-time adaptation on a stream of labelled queries: does feedback make calls better
and cheaper?

    .venv/bin/python benchmarks/adaptation.py [--data CSV] [--limit N] [--seed-per-intent N]
    atomic bench adaptation [--data CSV] [--limit N] [--seed-per-intent N]

Data: a CSV whose first two columns are text and label (default: the shared Banking77 test
set, 3,080 queries over 77 intents), shuffled with a fixed seed. Each query is one
``Atomic.run`` of a label task over the CSV's labels; the true label then arrives as
ground-truth feedback (``record_feedback``: ``correct``, or ``corrected`` with the label), as
a human reviewer would give it. ``--seed-per-intent N`` first puts N labelled examples per
label from ``--seed-data`` (default: Banking77's train set) in the task's memory.

Bidders, the same in every configuration:

* both local LLMs (``llamacpp:smollm2-135m-instruct``, ``llamacpp:gemma-3-270m``), constrained
  to the labels by grammar (``--no-llm`` leaves them out);
* a replayed **expert** (``replay:expert``): right with probability ``--expert-accuracy``
  (0.95) per query, decided by a seeded hash of the query, at ``--expert-price`` per call
  ($0.0004: a GPT-4o-class model on this ~800-token prompt, at $0.5 per million tokens);
* in configurations with the classifier, ``learned:<task>``, trained on the task's memory.

Configurations: (a) ``none``: no memory, no classifier; (b) ``memory``: the 4 most similar
remembered examples in every LLM prompt; (c) ``classifier``: the learned classifier bids;
(d) ``all``: both. The exchange clears by utility with the task's value per correct answer
(``--value``, $0.002) and Thompson sampling. Reported at 100, 250, 500, 1,000, 2,000 and 3,080
feedback items: accuracy and mean cost per call over the last ``--window`` (200) queries, and
the expert's share of them. Prints a table, writes JSON and a PNG next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from atomic import Atomic, AtomicSettings, Sensitivity, Task
from atomic.errors import AtomicError
from atomic.exchange import TaskPolicy, Utility
from atomic.models import FunctionModel, Model, ModelRequest, Price, builtin_local_model
from atomic.models._function import function_card

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "banking77" / "test.csv"
DEFAULT_SEED_DATA = ROOT.parent / "shared" / "data" / "banking77" / "train.csv"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "adaptation.json"
CHECKPOINTS = (100, 250, 500, 1000, 2000, 3080)
CONFIGS = {
    "none": (False, False),
    "memory": (True, False),
    "classifier": (False, True),
    "all": (True, True),
}
TASK_NAME = "stream-intent"
EXPERT_ID = "replay:expert"


class Query(BaseModel):
    text: str


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """(text, label) rows from a CSV whose first two columns are text and label."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        rows = [(r[0].strip(), r[1].strip()) for r in reader if len(r) >= 2 and r[0].strip()]
    if not rows:
        raise SystemExit(f"{path}: no rows with a text and a label column")
    return rows


def stream_task(labels: Sequence[str], value_usd: float) -> Task[Query, Any]:
    output: Any = Literal.__getitem__(tuple(labels))
    return Task(
        TASK_NAME,
        input=Query,
        output=output,
        instructions=(
            "You route messages sent to an online bank's support team. "
            "Pick the one intent label that best describes what the customer wants."
        ),
        value_usd=value_usd,
        max_output_tokens=32,
        sensitivity=Sensitivity.PUBLIC,
        description="One query of the adaptation stream.",
    )


def expert_model(
    truth: dict[str, str], labels: Sequence[str], accuracy: float, price: float, seed: int
) -> FunctionModel:
    """Right with probability ``accuracy`` per query (a seeded hash decides), else a wrong
    label: a replayed stand-in for an expensive hosted model."""

    def answer(request: ModelRequest) -> dict[str, str]:
        text = str((request.task_input or {}).get("text", ""))
        digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        right = truth.get(text, labels[0])
        if draw < accuracy:
            return {"label": right}
        wrong = [label for label in labels if label != right]
        return {"label": wrong[int.from_bytes(digest[8:12], "big") % len(wrong)]}

    card = function_card(
        EXPERT_ID,
        price=Price(per_call=price, source="stated for the benchmark"),
        quality_prior=0.9,
        latency_prior_ms=800.0,
    )
    return FunctionModel(answer, card=card)


@dataclass
class Trace:
    correct: list[bool] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    winner: list[str] = field(default_factory=list)
    seconds: float = 0.0
    probe: dict[str, dict[str, float]] | None = None

    def window(self, n: int, size: int) -> dict[str, float]:
        lo = max(0, n - size)
        count = n - lo
        return {
            "n": n,
            "accuracy": sum(self.correct[lo:n]) / count,
            "mean_cost_usd": sum(self.cost[lo:n]) / count,
            "expert_share": sum(w == EXPERT_ID for w in self.winner[lo:n]) / count,
            "learned_share": sum(w.startswith("learned:") for w in self.winner[lo:n]) / count,
            "llm_share": sum(w.startswith("llamacpp:") for w in self.winner[lo:n]) / count,
            "cumulative_accuracy": sum(self.correct[:n]) / n,
        }


async def probe_llms(
    atomic: Atomic,
    task: Task[Query, Any],
    llms: list[Model],
    probe: list[tuple[str, str]],
    k: int,
    progress: Progress,
) -> dict[str, dict[str, float]]:
    """Each local LLM's accuracy on held-out queries, pinned (no auction), with the ``k`` most
    similar remembered examples in its prompt and without: what memory does for the LLMs
    themselves, whether or not they win auctions."""
    found: dict[str, dict[str, float]] = {}
    bar = progress.add_task("LLM probe", total=len(llms) * len(probe) * 2)
    for model in llms:
        scores = {}
        for label, examples in (("with_memory", k), ("without_memory", 0)):
            atomic.settings.memory_examples = examples
            right = 0
            for text, truth in probe:
                try:
                    result = await atomic.run(task, {"text": text}, model=model.id)
                    right += result.output == truth
                except AtomicError:
                    pass
                progress.advance(bar)
            scores[label] = right / len(probe)
        found[model.id] = scores
    atomic.settings.memory_examples = k
    return found


async def run_config(
    name: str,
    stream: list[tuple[str, str]],
    seeds: list[tuple[str, str]],
    task: Task[Query, Any],
    models: list[Model],
    args: argparse.Namespace,
    progress: Progress,
    probe: list[tuple[str, str]] | None = None,
) -> Trace:
    memory_on, classifier_on = CONFIGS[name]
    with tempfile.TemporaryDirectory(prefix=f"atomic-adapt-{name}-") as home:
        settings = AtomicSettings(
            home=Path(home),
            memory_examples=args.k if memory_on else 0,
            learned_models=classifier_on,
        )
        atomic = await Atomic.open(settings, models=models, tasks=[task], seed=args.seed)
        atomic.exchange.configure(
            TASK_NAME,
            TaskPolicy(objective=Utility(), exploration=args.exploration),
        )
        if seeds:
            await atomic.remember(task, [({"text": t}, label) for t, label in seeds])
        trace = Trace()
        bar = progress.add_task(name, total=len(stream))
        start = time.perf_counter()
        try:
            for text, label in stream:
                try:
                    result = await atomic.run(task, {"text": text})
                except AtomicError:
                    trace.correct.append(False)
                    trace.cost.append(0.0)
                    trace.winner.append("none")
                    progress.advance(bar)
                    continue
                right = result.output == label
                trace.correct.append(right)
                trace.cost.append(result.cost_usd)
                trace.winner.append(result.model_id)
                if right:
                    await atomic.record_feedback(result.run_id, "correct", source="ground_truth")
                else:
                    await atomic.record_feedback(
                        result.run_id, "corrected", output=label, source="ground_truth"
                    )
                progress.advance(bar)
            trace.seconds = time.perf_counter() - start
            llms = [m for m in models if m.id.startswith("llamacpp:")]
            if probe and llms:
                trace.probe = await probe_llms(atomic, task, llms, probe, args.k, progress)
        finally:
            # The local models are shared by every configuration: close only this store.
            await atomic.store.close()
    return trace


def report(results: dict[str, Any], console: Console) -> None:
    table = Table(title="Adaptation: rolling accuracy / mean $ per call / expert share")
    table.add_column("config")
    checkpoints = results["checkpoints"]
    for n in checkpoints:
        table.add_column(f"@{n:,}", justify="right")
    for name, data in results["configs"].items():
        cells = [
            f"{p['accuracy']:.1%} · ${p['mean_cost_usd']:.6f} · {p['expert_share']:.0%}"
            for p in data["points"]
        ]
        table.add_row(name, *cells)
    console.print(table)
    probe = results.get("llm_probe")
    if probe:
        llm = Table(title=f"Local LLMs on {probe['queries']} held-out queries, after the stream")
        for column in ("model", "with remembered examples", "without"):
            llm.add_column(column)
        for model_id, scores in probe["accuracy"].items():
            llm.add_row(model_id, f"{scores['with_memory']:.0%}", f"{scores['without_memory']:.0%}")
        console.print(llm)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (acc_ax, cost_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, data in results["configs"].items():
        n = [p["n"] for p in data["curve"]]
        acc_ax.plot(n, [p["accuracy"] for p in data["curve"]], label=name)
        cost_ax.plot(n, [p["mean_cost_usd"] for p in data["curve"]], label=name)
    acc_ax.set(xlabel="feedback items", ylabel=f"accuracy (last {results['args']['window']})")
    cost_ax.set(xlabel="feedback items", ylabel="mean $ per call")
    acc_ax.axhline(0.85, color="grey", lw=0.5, ls="--")
    acc_ax.axhline(0.90, color="grey", lw=0.5, ls="--")
    for ax in (acc_ax, cost_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Atomic: adaptation from feedback on a labelled stream")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed-data", type=Path, default=DEFAULT_SEED_DATA)
    parser.add_argument("--seed-per-intent", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="Only the first N queries.")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--expert-accuracy", type=float, default=0.95)
    parser.add_argument("--expert-price", type=float, default=0.0004)
    parser.add_argument("--value", type=float, default=0.002, help="$ per correct answer.")
    parser.add_argument("--exploration", type=float, default=1.0)
    parser.add_argument("--k", type=int, default=4, help="Remembered examples per prompt.")
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--no-llm", action="store_true", help="Leave the local LLMs out.")
    parser.add_argument(
        "--probe",
        type=int,
        default=50,
        help="After the memory run, held-out queries (from --seed-data) on which each LLM is "
        "measured with and without remembered examples (0: skip).",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    unknown = set(args.configs.split(",")) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configs {sorted(unknown)}; choose from {', '.join(CONFIGS)}")
    return args


async def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    rows = read_labelled(args.data)
    random.Random(args.seed).shuffle(rows)
    stream = rows[: args.limit] if args.limit else rows
    labels = sorted({label for _, label in rows})
    seeds: list[tuple[str, str]] = []
    probe: list[tuple[str, str]] = []
    if args.seed_per_intent or (args.probe and not args.no_llm):
        held_out = [(t, label) for t, label in read_labelled(args.seed_data) if label in labels]
        rng = random.Random(args.seed + 1)
        rng.shuffle(held_out)
        probe = held_out[: args.probe]
        by_label: dict[str, list[tuple[str, str]]] = {}
        for text, label in held_out[args.probe :]:
            by_label.setdefault(label, []).append((text, label))
        for label in labels:
            pool = by_label.get(label, [])
            seeds += pool[: args.seed_per_intent]
    task = stream_task(labels, args.value)
    truth = dict(stream)
    expert = expert_model(truth, labels, args.expert_accuracy, args.expert_price, args.seed)
    local: list[Model] = []
    if not args.no_llm:
        settings = AtomicSettings()
        local = [builtin_local_model(m, settings) for m in settings.local_models]
    checkpoints = [n for n in CHECKPOINTS if n <= len(stream)] or [len(stream)]
    if checkpoints[-1] != len(stream):
        checkpoints.append(len(stream))
    results: dict[str, Any] = {
        "benchmark": "adaptation",
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "queries": len(stream),
        "labels": len(labels),
        "seed_examples": len(seeds),
        "checkpoints": checkpoints,
        "configs": {},
    }
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        for name in args.configs.split(","):
            trace = await run_config(
                name,
                stream,
                seeds,
                task,
                [*local, expert],
                args,
                progress,
                probe=probe if name == "memory" else None,
            )
            step = max(1, len(stream) // 60)
            if trace.probe is not None:
                results["llm_probe"] = {"queries": len(probe), "accuracy": trace.probe}
            results["configs"][name] = {
                "seconds": round(trace.seconds, 1),
                "points": [trace.window(n, args.window) for n in checkpoints],
                "curve": [trace.window(n, args.window) for n in range(step, len(stream) + 1, step)],
            }
    for model in local:
        await model.aclose()
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    console = Console()
    results = asyncio.run(run(args, console))
    report(results, console)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    png = args.out.with_suffix(".png")
    plot(results, png)
    console.print(f"Wrote {args.out} and {png}")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
