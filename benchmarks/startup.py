"""How long Atomic takes to start once a label task remembers thousands of examples.

A throwaway ATOMIC_HOME is seeded with ``--examples`` labelled Banking77 messages for the
built-in task ``banking77-intent`` (its classifier trained and saved, as ``atomic.remember``
leaves it). Then, each in a fresh process, ``--repeat`` times (the median is reported):

* ``atomic --help``;
* a script that imports Atomic and runs ``Atomic.open`` (the process's wall time, and inside
  it the open alone and the first use that follows: one prediction of the classifier and one
  search of the memory, where the work deferred from open now lands);
* ``atomic runs -n 1``.

Each is held against its target, and ``Atomic.open`` and ``atomic runs`` are also measured
on the old path, side by side: saved classifiers ignored (so each is retrained at open) and
the memory's lexical index vectorised as it is loaded, as Atomic did before classifiers were
saved. The old path runs on a copy of the home, so its writes do not touch the new one.

    .venv/bin/python benchmarks/startup.py [--examples 5000] [--repeat 5]

Absolute times depend on the machine and its load; the ratios, measured in one run, hold.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from atomic import Atomic, AtomicSettings

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import write_report

console = Console()

ROOT = Path(__file__).resolve().parents[1]
TASK = "banking77-intent"
TARGETS_S = {"help": 0.5, "open": 1.0, "runs": 1.0}

# The old path, patched into a child process: saved classifiers are ignored, so `restore`
# retrains each one (wants_refit: nothing trained yet), and loading memory vectorises its index.
_OLD_PATH = """
from atomic.adaptation._adaptation import Adaptation
from atomic.adaptation._memory import TaskMemory
Adaptation._load_classifier = lambda self, saved: None
_load = TaskMemory.load
def _eager_load(self, records):
    _load(self, records)
    self._index._vectorise()
TaskMemory.load = _eager_load
"""

_OPEN = """
import asyncio, json, time
start = time.perf_counter()
PRELUDE
from atomic import Atomic

async def main():
    opening = time.perf_counter()
    atomic = await Atomic.open()
    opened = time.perf_counter()
    classifier = atomic.adaptation.classifier(atomic.settings.tenant, TASK)
    assert classifier is not None and classifier.trained, "the classifier is not trained"
    classifier.predict("I am still waiting on my card")
    atomic.adaptation.memory(atomic.settings.tenant, TASK).search("my card has not arrived", 4)
    used = time.perf_counter()
    await atomic.aclose()
    print(json.dumps({"import_s": opening - start, "open_s": opened - opening,
                      "import_open_s": opened - start, "first_use_s": used - opened}))

asyncio.run(main())
"""

_CLI = """
import sys
from atomic.cli import main
sys.argv = ["atomic"] + ARGS
main()
"""


def read_examples(path: Path, n: int) -> list[tuple[dict[str, str], str]]:
    """The first ``n`` rows of a CSV whose first two columns are text and label."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    if len(rows) < n:
        raise SystemExit(f"{path} has {len(rows)} examples; --examples asks for {n}")
    return [({"text": text}, label) for text, label, *_ in rows[:n]]


async def seed(home: Path, examples: list[tuple[dict[str, str], str]]) -> dict[str, Any]:
    """Remember ``examples`` (which trains and saves the classifier); returns its status."""
    settings = AtomicSettings(home=home, memory_size=max(5000, len(examples)))
    async with await Atomic.open(settings) as atomic:
        kept = await atomic.remember(TASK, examples)
        status = await atomic.task_status(TASK)
    assert status.classifier is not None
    assert status.classifier.trained
    return {"remembered": kept, "trained_on": status.classifier.trained_on}


def _env(home: Path, examples: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATOMIC_")}
    env["ATOMIC_HOME"] = str(home)
    env["ATOMIC_MEMORY_SIZE"] = str(max(5000, examples))
    # The children import this checkout's sources, as the parent does.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def _time_child(code: str, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"a measured process failed:\n{done.stderr[-3000:]}")
    last = done.stdout.strip().splitlines()[-1:] or [""]
    inner = json.loads(last[0]) if last[0].startswith("{") else {}
    return wall, inner


def measure(code: str, env: dict[str, str], repeat: int) -> dict[str, Any]:
    walls: list[float] = []
    inner: dict[str, list[float]] = {}
    for _ in range(repeat):
        wall, numbers = _time_child(code, env)
        walls.append(wall)
        for key, value in numbers.items():
            inner.setdefault(key, []).append(value)
    result: dict[str, Any] = {"median_s": statistics.median(walls), "samples_s": walls}
    for key, values in inner.items():
        result[f"{key}_median"] = statistics.median(values)
        result[f"{key}_samples"] = values
    return result


def _cli(*args: str) -> str:
    return _CLI.replace("ARGS", repr(list(args)))


def run_all(home: Path, old_home: Path, examples: int, repeat: int) -> dict[str, Any]:
    new_env, old_env = _env(home, examples), _env(old_home, examples)
    opening = _OPEN.replace("TASK", repr(TASK))
    runs = _cli("runs", "-n", "1")
    results = {
        "help": measure(_cli("--help"), new_env, repeat),
        "open": measure(opening.replace("PRELUDE", ""), new_env, repeat),
        "runs": measure(runs, new_env, repeat),
    }
    results["open"]["old"] = measure(opening.replace("PRELUDE", _OLD_PATH), old_env, repeat)
    results["runs"]["old"] = measure(_OLD_PATH + runs, old_env, repeat)
    for result in (results["open"], results["open"]["old"]):
        # What a script waits for: importing Atomic and opening it; the first use after is
        # reported on its own, and the process's wall time (with it) is kept in the JSON.
        result["wall_median_s"] = result.pop("median_s")
        result["wall_samples_s"] = result.pop("samples_s")
        result["median_s"] = result.pop("import_open_s_median")
        result["samples_s"] = result.pop("import_open_s_samples")
    for name, result in results.items():
        result["target_s"] = TARGETS_S[name]
        result["within_target"] = result["median_s"] <= TARGETS_S[name]
        if "old" in result:
            result["speedup"] = result["old"]["median_s"] / result["median_s"]
    return results


def table(results: dict[str, Any], examples: int) -> Table:
    out = Table(title=f"Start-up with {examples:,} remembered examples (median of fresh processes)")
    for column in ("command", "now s", "target s", "ok", "old path s", "× faster"):
        out.add_column(column, justify="left" if column == "command" else "right")
    labels = {
        "help": "atomic --help",
        "open": "import atomic + Atomic.open",
        "runs": "atomic runs -n 1",
    }
    for name, label in labels.items():
        r = results[name]
        old = r.get("old")
        out.add_row(
            label,
            f"{r['median_s']:.2f}",
            f"{r['target_s']:.1f}",
            "yes" if r["within_target"] else "NO",
            f"{old['median_s']:.2f}" if old else "",
            f"{r['speedup']:.1f}" if old else "",
        )
    opened = results["open"]
    out.add_row(
        "  of which Atomic.open",
        f"{opened['open_s_median']:.2f}",
        "",
        "",
        f"{opened['old']['open_s_median']:.2f}",
        f"{opened['old']['open_s_median'] / opened['open_s_median']:.1f}",
    )
    out.add_row(
        "  then 1st predict+search",
        f"{opened['first_use_s_median']:.2f}",
        "",
        "",
        f"{opened['old']['first_use_s_median']:.2f}",
        "",
    )
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    examples = read_examples(Path(args.data), args.examples)
    with tempfile.TemporaryDirectory(prefix="atomic-startup-") as scratch:
        home, old_home = Path(scratch) / "home", Path(scratch) / "old-home"
        with console.status(f"remembering {len(examples):,} examples, training the classifier"):
            seeded = asyncio.run(seed(home, examples))
        shutil.copytree(home, old_home)
        with console.status(f"starting fresh processes, {args.repeat} of each"):
            results = run_all(home, old_home, len(examples), args.repeat)
    report = {
        "benchmark": "startup",
        "date": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "args": vars(args),
        "task": TASK,
        "seeded": seeded,
        "results": results,
    }
    console.print(table(results, len(examples)))
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--data",
        default=str(ROOT.parent / "shared" / "data" / "banking77" / "train.csv"),
        help="a CSV whose first two columns are text and a Banking77 intent",
    )
    p.add_argument("--examples", type=int, default=5000, help="examples to remember")
    p.add_argument("--repeat", type=int, default=5, help="fresh processes per measure")
    p.add_argument("--out", default="benchmarks/results/startup.json")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    report = run(args)
    write_report(report, args.out, console)
    return report


if __name__ == "__main__":
    main()
