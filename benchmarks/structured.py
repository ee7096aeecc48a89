"""Structured output: which schemas each constraint backend covers, and what constraining costs.

    .venv/bin/python benchmarks/structured.py [--data DIR] [--limit N] [--models ID ...]
        [--out benchmarks/results/structured.json] [--skip-generation]

1. Coverage, llguidance (Atomic's choice) and llama.cpp's JSON-schema grammar (GBNF) side by
   side, over a folder in the JSONSchemaBench format (default ``../shared/data/jsonschemabench``,
   every schema): how many schemas compile, how many valid instances each accepts and invalid
   ones it rejects (an accepted invalid instance is a constraint bug), compile time p50/p95.
   Instances are written with ``json.dumps`` (compact, UTF-8) and fed as SmolLM2 tokens; each is
   also tried with ``json.dumps``'s default spacing, and verdicts that change are counted.
2. Generation on the built-in local models (SmolLM2, Gemma 3), for the built-in tasks on the
   first query of the first ``--inputs`` intents of Banking77's test set: tokens per second with
   the constraint (GRAMMAR, the chosen backend) and without (PROMPT) on the same prompts, and
   through ``attempt_model`` the share of calls valid on the first attempt, after re-asks, and
   never, for each strategy.

Prints tables and writes one JSON file with every number, the machine, versions and arguments.

The default run (every schema, both models, 3 inputs per task) takes about 11 minutes on 2 CPU
cores: coverage about 2, generation the rest. ``--limit N`` checks a fixed-seed sample of N
schemas; ``--inputs``, ``--models`` and ``--skip-generation`` trim the second part.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import dataclasses
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from atomic.errors import AtomicError, ConstraintError, OutputValidationError
from atomic.models import (
    BUILTIN_LOCAL_IDS,
    LlamaCppModel,
    Message,
    Model,
    ModelRequest,
    ModelResponse,
    OutputSpec,
    OutputStrategy,
    builtin_local_model,
)
from atomic.settings import AtomicSettings, ConstraintBackend
from atomic.tasks import Attempt, Task, attempt_model, render_messages
from atomic.tasks._builtin import BUILTIN_TASKS, SupportMessage

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._structured_coverage import (
    TOKENIZER_MODEL,
    Job,
    SchemaResult,
    load_schema_files,
    run_jobs,
    summarise,
)
from benchmarks._structured_report import coverage_tables, generation_tables

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "structured.json"
SEED = 0

# Logs and CI have no terminal width; 80 columns would fold the tables.
console = Console(width=None if sys.stdout.isatty() else 120)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


# -- 1. coverage ---------------------------------------------------------------------------


def run_coverage(args: argparse.Namespace, chosen: ConstraintBackend) -> dict[str, Any]:
    in_folder, schemas = load_schema_files(args.data, args.limit, SEED)
    # The chosen backend first, then the other; each schema's two jobs run back to back so
    # machine noise falls on both alike.
    backends = [chosen.value, *(b.value for b in ConstraintBackend if b is not chosen)]
    jobs = [Job(schema, backend) for schema in schemas for backend in backends]
    with _progress() as progress:
        bar = progress.add_task("coverage (schema × backend)", total=len(jobs))
        results = run_jobs(
            jobs,
            workers=args.workers,
            timeout_s=args.timeout,
            max_tokens=args.max_instance_tokens,
            home=AtomicSettings().home,
            on_done=lambda _: progress.advance(bar),
        )
    by_name = {s.name: s for s in schemas}
    return {
        "data": str(args.data),
        "schemas_in_folder": in_folder,
        "schemas_sampled": len(schemas),
        "sample": "all" if args.limit is None or args.limit >= in_folder else f"seed {SEED}",
        "tokenizer": TOKENIZER_MODEL,
        "serialisation": "json.dumps(separators=(',', ':'), ensure_ascii=False); also tried "
        "with json.dumps's default ', ' and ': ' spacing",
        "max_instance_tokens": args.max_instance_tokens,
        "timeout_s": args.timeout,
        "backends": {b: summarise(b, results, by_name) for b in backends},
        "per_schema": _per_schema(results),
    }


def _per_schema(results: Sequence[SchemaResult]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for r in sorted(results, key=lambda r: (r.schema, r.backend)):
        rows.setdefault(r.schema, {})[r.backend] = {
            "status": r.status,
            "reason": r.reason,
            "compile_ms": None if r.compile_ms is None else round(r.compile_ms, 3),
            "verdicts": {str(k): v for k, v in sorted(r.verdicts.items())},
            "whitespace_sensitive": r.spaced_differs,
        }
    return rows


# -- 2. generation -------------------------------------------------------------------------


class _OneStrategy(Model):
    """The same model offering a single output strategy, so ``attempt_model`` uses that one."""

    def __init__(self, inner: Model, strategy: OutputStrategy) -> None:
        self.inner = inner
        self.card = inner.card.model_copy(update={"strategies": frozenset({strategy})})

    async def invoke(self, request: ModelRequest) -> ModelResponse:
        return await self.inner.invoke(request)

    def count_tokens(self, text: str) -> int | None:
        return self.inner.count_tokens(text)


def pick_inputs(path: Path, n: int) -> list[SupportMessage]:
    """The first query of each of the first ``n`` intents in the file (one per intent)."""
    seen: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            seen.setdefault(row["category"], row["text"])
            if len(seen) >= n:
                break
    return [SupportMessage(text=text) for text in seen.values()]


def _tokens_per_s(calls: Sequence[dict[str, Any]]) -> float | None:
    seconds = sum(c["latency_ms"] for c in calls) / 1000
    return round(sum(c["output_tokens"] for c in calls) / seconds, 2) if seconds else None


async def _throughput(
    model: LlamaCppModel, task: Task[Any, Any], inputs: Sequence[SupportMessage], cap: int, bar: Any
) -> list[dict[str, Any]]:
    """Each prompt generated with and without the constraint, in alternating order."""
    calls: list[dict[str, Any]] = []
    for i, task_input in enumerate(inputs):
        messages = tuple(render_messages(task, task_input, OutputStrategy.PROMPT))

        def request(
            strategy: OutputStrategy, max_tokens: int, msgs: tuple[Message, ...] = messages
        ) -> ModelRequest:
            spec = OutputSpec(
                name=task.name, json_schema=task.schema.wire_schema, strategy=strategy
            )
            return ModelRequest(messages=msgs, output=spec, max_tokens=max_tokens)

        # One token first: the prompt enters llama.cpp's cache and the constraint is compiled
        # and bound, so both timed calls measure decoding alone.
        with contextlib.suppress(ConstraintError):
            await model.invoke(request(OutputStrategy.GRAMMAR, 1))
        order = [OutputStrategy.GRAMMAR, OutputStrategy.PROMPT]
        for strategy in order if i % 2 == 0 else order[::-1]:
            row: dict[str, Any] = {"task": task.name, "input": i, "strategy": strategy.value}
            try:
                response = await model.invoke(request(strategy, cap))
            except AtomicError as exc:
                row.update(error=exc.code, output_tokens=0, latency_ms=0.0)
            else:
                row.update(
                    output_tokens=response.usage.output_tokens,
                    latency_ms=round(response.latency_ms, 2),
                    finish_reason=response.finish_reason,
                )
            calls.append(row)
            bar()
    return calls


async def _validity(
    model: Model, task: Task[Any, Any], inputs: Sequence[SupportMessage], attempts: int, bar: Any
) -> list[dict[str, Any]]:
    """Each input through ``attempt_model`` with one strategy: how many attempts it took."""
    rows: list[dict[str, Any]] = []
    for i, task_input in enumerate(inputs):
        seen: list[Attempt] = []

        async def keep(attempt: Attempt, seen: list[Attempt] = seen) -> None:
            seen.append(attempt)

        outcome = "first"
        try:
            result = await attempt_model(
                task, task_input, model, max_attempts=attempts, on_attempt=keep
            )
            if len(result.attempts) > 1:
                outcome = "after_reask"
        except OutputValidationError:
            outcome = "never"
        except AtomicError as exc:
            outcome = f"error:{exc.code}"
        first = seen[0] if seen else None
        rows.append(
            {
                "task": task.name,
                "input": i,
                "strategy": next(iter(model.card.strategies)).value,
                "outcome": outcome,
                "attempts": len(seen),
                "fell_back_to_prompt": any(isinstance(a.error, ConstraintError) for a in seen),
                "first_schema_valid": bool(first and first.decoded and first.decoded.ok),
                "first_errors": (first.errors[:3] or ([first.error.code] if first.error else []))
                if first
                else [],
                "output_tokens": sum(a.response.usage.output_tokens for a in seen if a.response),
                "latency_ms": round(sum(a.latency_ms for a in seen), 2),
            }
        )
        bar()
    return rows


def _aggregate(
    model_id: str, throughput: list[dict[str, Any]], validity: list[dict[str, Any]]
) -> dict[str, Any]:
    tasks = sorted({row["task"] for row in throughput}, key=[t.name for t in BUILTIN_TASKS].index)
    per_task = []
    for name in [*tasks, None]:
        rows = [r for r in throughput if name is None or r["task"] == name]
        grammar = _tokens_per_s([r for r in rows if r["strategy"] == "grammar"])
        prompt = _tokens_per_s([r for r in rows if r["strategy"] == "prompt"])
        per_task.append(
            {
                "task": name or "all",
                "calls_per_strategy": sum(r["strategy"] == "grammar" for r in rows),
                "errors": sum("error" in r for r in rows),
                "grammar_tokens_per_s": grammar,
                "prompt_tokens_per_s": prompt,
                "ratio": round(grammar / prompt, 3) if grammar and prompt else None,
                "grammar_output_tokens": sum(
                    r["output_tokens"] for r in rows if r["strategy"] == "grammar"
                ),
                "prompt_output_tokens": sum(
                    r["output_tokens"] for r in rows if r["strategy"] == "prompt"
                ),
            }
        )
    outcomes = []
    for strategy in ("grammar", "prompt"):
        rows = [r for r in validity if r["strategy"] == strategy]
        n = len(rows) or 1
        count = {k: sum(r["outcome"] == k for r in rows) for k in ("first", "after_reask", "never")}
        outcomes.append(
            {
                "strategy": strategy,
                "calls": len(rows),
                **{f"{k}_share": round(v / n, 3) for k, v in count.items()},
                **count,
                "errors": sum(r["outcome"].startswith("error") for r in rows),
                "fell_back_to_prompt": sum(r["fell_back_to_prompt"] for r in rows),
                "first_schema_valid_share": round(
                    sum(r["first_schema_valid"] for r in rows) / n, 3
                ),
            }
        )
    return {"model": model_id, "throughput": per_task, "validity": outcomes}


async def run_generation(args: argparse.Namespace, settings: AtomicSettings) -> dict[str, Any]:
    inputs = pick_inputs(args.inputs_csv, args.inputs)
    tasks = [
        dataclasses.replace(t, max_output_tokens=min(t.max_output_tokens, args.max_tokens))
        if args.max_tokens
        else t
        for t in BUILTIN_TASKS
    ]
    per_model: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    steps = len(args.models) * len(tasks) * len(inputs) * 4
    with _progress() as progress:
        bar_id = progress.add_task("generation (calls)", total=steps)

        def bar() -> None:
            progress.advance(bar_id)

        for model_id in args.models:
            model = builtin_local_model(model_id, settings)
            progress.update(bar_id, description=f"loading {model_id}")
            await model.load()
            progress.update(bar_id, description=f"generation: {model_id}")
            started = time.perf_counter()
            throughput: list[dict[str, Any]] = []
            validity: list[dict[str, Any]] = []
            try:
                for task in tasks:
                    cap = min(task.max_output_tokens, args.throughput_tokens)
                    throughput += await _throughput(model, task, inputs, cap, bar)
                    for strategy in (OutputStrategy.GRAMMAR, OutputStrategy.PROMPT):
                        pinned = _OneStrategy(model, strategy)
                        validity += await _validity(pinned, task, inputs, args.max_attempts, bar)
            finally:
                await model.aclose()
            per_model[model_id] = _aggregate(model_id, throughput, validity)
            per_model[model_id]["seconds"] = round(time.perf_counter() - started, 1)
            raw[model_id] = {"throughput_calls": throughput, "validity_calls": validity}
    return {
        "method": "tokens/s = output tokens / wall time of the call; each prompt is first run "
        "for one constrained token, so both timed calls find it in llama.cpp's cache and the "
        "constraint already compiled and bound; the two timed calls alternate in order",
        "inputs_csv": str(args.inputs_csv),
        "inputs": [i.text for i in inputs],
        "tasks": [t.name for t in tasks],
        "max_output_tokens": {t.name: t.max_output_tokens for t in tasks},
        "throughput_max_tokens": args.throughput_tokens,
        "max_attempts": args.max_attempts,
        "constraint_backend": settings.constraint_backend.value,
        "threads": settings.threads,
        "models": per_model,
        "calls": raw,
    }


# -- output --------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def _versions() -> dict[str, str]:
    found = {}
    for name in ("atomic", "llguidance", "llama-cpp-python"):
        try:
            found[name] = version(name)
        except Exception:
            found[name] = "not installed"
    return found


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DATA / "jsonschemabench",
        help="a folder of JSONSchemaBench-format files (default: %(default)s)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="check a fixed-seed sample of N schemas (default: all)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="JSON output (default: %(default)s)"
    )
    parser.add_argument("--skip-generation", action="store_true", help="run only the coverage part")
    parser.add_argument("--skip-coverage", action="store_true", help="run only the generation part")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="coverage processes (default: CPU count)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds one compile or one instance may take (default: %(default)s)",
    )
    parser.add_argument(
        "--max-instance-tokens",
        type=int,
        default=4096,
        help="skip (and count) longer instances (default: %(default)s)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(BUILTIN_LOCAL_IDS),
        help="local models for the generation part (default: %(default)s)",
    )
    parser.add_argument(
        "--inputs-csv",
        type=Path,
        default=DATA / "banking77" / "test.csv",
        help="CSV with text,category (default: %(default)s)",
    )
    parser.add_argument(
        "--inputs",
        type=int,
        default=3,
        help="inputs per task: the first query of the first N intents (default: %(default)s)",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="cap every task's max output tokens (default: the task's own)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, min((os.cpu_count() or 1) - 1, 4)),
        help="llama.cpp threads; one core is left for the harness, since a llama.cpp thread that "
        "loses its core stalls the others (default: %(default)s)",
    )
    parser.add_argument(
        "--throughput-tokens",
        type=int,
        default=32,
        help="max output tokens of the timed calls; speed per token needs no long outputs "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        help="attempts per call, re-asks included (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    settings = AtomicSettings()
    chosen = settings.constraint_backend
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "structured",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": _machine(),
        "versions": _versions(),
        "chosen_backend": chosen.value,
        "seconds": {},
    }
    if not args.skip_coverage:
        t0 = time.perf_counter()
        report["coverage"] = run_coverage(args, chosen)
        report["seconds"]["coverage"] = round(time.perf_counter() - t0, 1)
        for table in coverage_tables(report["coverage"], chosen.value):
            console.print(table)
    if not args.skip_generation:
        t0 = time.perf_counter()
        gen_settings = settings.model_copy(update={"threads": args.threads})
        report["generation"] = asyncio.run(run_generation(args, gen_settings))
        report["seconds"]["generation"] = round(time.perf_counter() - t0, 1)
        for table in generation_tables(report["generation"]):
            console.print(table)
    report["seconds"]["total"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out} in {report['seconds']['total']} s")
    return report


if __name__ == "__main__":
    main()
