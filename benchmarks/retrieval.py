"""Retrieving few-shot demonstrations from a task's memory: which similarity works best?

    .venv/bin/python benchmarks/retrieval.py [--data DIR] [--per-intent 10,40]
        [--embed-per-intent 10] [--queries 300] [--seed S] [--out FILE]
        [--methods word,char_wb,word+char,llamacpp:smollm2-135m-instruct,llamacpp:gemma-3-270m]

Data: a folder with ``train.csv`` and ``test.csv`` (columns ``text,category``; default
``../shared/data/banking77``). The memory is a seeded sample of N train examples per intent
(fewer where an intent has fewer; each size's sample contains the smaller ones), the queries a
seeded sample of test rows. For every method and memory size, on the same queries:

* **top-1**: the nearest example's label is the query's; **hit@4**: the query's label is among
  the 4 nearest examples' labels (what matters for 4 demonstrations in a prompt); **vote@4**:
  the majority label of the 4 nearest is the query's (ties go to the nearer example);
* **build s**: indexing the memory; **p50 ms**: the median search latency per query.

Methods: Atomic's :class:`~atomic.adaptation._retrieval.LexicalIndex` with each analyzer
(``word``, ``char_wb``, ``word+char``; build time includes the first search, which computes
the IDF), and the two built-in local GGUF models used as embedders through llama-cpp-python
(``embedding=True``, one thread): per-token hidden states mean-pooled, L2-normalised, cosine by
dot product, each row once as is and once **centred** (the memory's mean vector subtracted
before normalising, which removes the direction all hidden states share). The GGUF files are
found (Gemma's assembled from its package) by Atomic's own code; nothing is downloaded. Each
distinct text is embedded once per run and its embedding time recorded, so an embedder's build
time is the sum over its memory and its latency includes embedding the query. Texts go to the
model one at a time: llama-cpp-python's list input packs several sequences into one batch,
which changed these models' per-token states (cosine to the single-text vector down to -0.1).
Embedding is the slow part (0.1–1 s per text on a busy 2-core machine, Gemma the slower), so
the embedders see only ``--embed-per-intent`` memory sizes (10 per intent: 770 texts, plus
the queries); ``--embed-per-intent 10,40`` adds ~2,300 texts per model.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from atomic.adaptation._retrieval import Analyzer, LexicalIndex
from atomic.models._local import _BUILTINS
from atomic.settings import AtomicSettings

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import report_header

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "banking77"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "retrieval.json"
LEXICAL = ("word", "char_wb", "word+char")
EMBEDDERS = ("llamacpp:smollm2-135m-instruct", "llamacpp:gemma-3-270m")
K = 4

console = Console()
Example = tuple[str, str]  # (text, label)
Search = Callable[[str], tuple[list[int], float]]  # query → nearest memory rows, seconds taken


def load(path: Path) -> list[Example]:
    with path.open(newline="", encoding="utf-8") as f:
        return [(row["text"], row["category"]) for row in csv.DictReader(f)]


def sample_memory(train: list[Example], per_intent: int, seed: int) -> list[Example]:
    """The first ``per_intent`` of each intent's seeded shuffle, so smaller sizes nest."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in train:
        by_label[example[1]].append(example)
    memory: list[Example] = []
    for label in sorted(by_label):
        rows = by_label[label]
        random.Random(f"{seed}:{label}").shuffle(rows)
        memory += rows[:per_intent]
    return memory


def scores(memory: list[Example], queries: list[Example], search: Search) -> dict[str, float]:
    top1 = hit = vote = 0
    latencies: list[float] = []
    for text, label in queries:
        rows, seconds = search(text)
        latencies.append(seconds)
        labels = [memory[j][1] for j in rows[:K]]
        top1 += labels[:1] == [label]
        hit += label in labels
        counts = Counter(labels)  # insertion order is rank order, so ties go to the nearer
        vote += bool(labels) and max(counts, key=lambda x: counts[x]) == label
    n = len(queries)
    return {
        "top1": round(top1 / n, 4),
        "hit_at_4": round(hit / n, 4),
        "vote_at_4": round(vote / n, 4),
        "search_ms_p50": round(statistics.median(latencies) * 1000, 3),
    }


def lexical(analyzer: Analyzer, memory: list[Example], queries: list[Example]) -> dict[str, Any]:
    index = LexicalIndex(analyzer=analyzer)
    t0 = time.perf_counter()
    index.add_many([(str(i), text) for i, (text, _) in enumerate(memory)])
    index.search("", 1)  # the index computes its IDF on the first search after a change
    build = time.perf_counter() - t0

    def search(text: str) -> tuple[list[int], float]:
        t = time.perf_counter()
        hits = index.search(text, K)
        return [int(i) for i, _ in hits], time.perf_counter() - t

    return {"build_s": round(build, 3), **scores(memory, queries, search)}


class Embedder:
    """A built-in local model as a sentence embedder; embeddings cached per distinct text."""

    def __init__(self, model_id: str, settings: AtomicSettings) -> None:
        from llama_cpp import Llama

        t0 = time.perf_counter()
        self.path = _BUILTINS[model_id].path(settings)  # Atomic's own lookup / assembly
        self.llama = Llama(
            model_path=str(self.path), embedding=True, n_ctx=512, n_threads=1, verbose=False
        )
        self.load_s = time.perf_counter() - t0
        self.cache: dict[str, tuple[np.ndarray, float]] = {}

    def embed(self, text: str) -> tuple[np.ndarray, float]:
        """The mean-pooled, L2-normalised vector of ``text`` and the seconds it took."""
        if text not in self.cache:
            t0 = time.perf_counter()
            out = np.asarray(self.llama.embed(text), dtype=np.float64)
            vector = out.mean(axis=0) if out.ndim == 2 else out  # per-token states or pooled
            self.cache[text] = (vector / (np.linalg.norm(vector) or 1.0), time.perf_counter() - t0)
        return self.cache[text]

    def evaluate(
        self, memory: list[Example], queries: list[Example], centred: bool
    ) -> dict[str, Any]:
        t0 = time.perf_counter()
        pairs = [self.embed(text) for text, _ in memory]
        matrix = np.stack([v for v, _ in pairs])
        mean = matrix.mean(axis=0) if centred else np.zeros(matrix.shape[1])
        matrix = _unit(matrix - mean)
        build = sum(s for _, s in pairs) + time.perf_counter() - t0

        def search(text: str) -> tuple[list[int], float]:
            vector, embed_s = self.embed(text)
            t = time.perf_counter()
            sims = matrix @ _unit(vector - mean)
            k = min(K, len(sims))
            top = np.argpartition(-sims, k - 1)[:k]
            rows = sorted(top.tolist(), key=lambda j: -sims[j])
            return rows, embed_s + time.perf_counter() - t

        return {
            "build_s": round(build, 3),
            "dims": int(matrix.shape[1]),
            **scores(memory, queries, search),
        }


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.asarray(x / np.where(norms == 0, 1.0, norms))


def _row(method: str, n: int, memory: list[Example], found: dict[str, Any]) -> dict[str, Any]:
    return {"method": method, "per_intent": n, "memory": len(memory), **found}


def run(args: argparse.Namespace) -> dict[str, Any]:
    train, test = load(args.data / "train.csv"), load(args.data / "test.csv")
    queries = random.Random(args.seed).sample(test, min(args.queries, len(test)))
    memories = {n: sample_memory(train, n, args.seed) for n in args.per_intent}
    embed_memories = {n: sample_memory(train, n, args.seed) for n in args.embed_per_intent}
    rows: list[dict[str, Any]] = []
    models: dict[str, Any] = {}
    for method in args.methods:
        if method in LEXICAL:
            rows += [_row(method, n, m, lexical(method, m, queries)) for n, m in memories.items()]
            continue
        embedder = Embedder(method, AtomicSettings())
        texts = {t for m in embed_memories.values() for t, _ in m} | {t for t, _ in queries}
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            bar = progress.add_task(f"embedding with {method}", total=len(texts))
            t0 = time.perf_counter()
            for text in sorted(texts):
                embedder.embed(text)
                progress.advance(bar)
        models[method] = {
            "path": str(embedder.path),
            "load_s": round(embedder.load_s, 2),
            "texts_embedded": len(texts),
            "embed_s": round(time.perf_counter() - t0, 1),
        }
        for centred in (False, True):
            name = f"{method} (centred)" if centred else method
            rows += [
                _row(name, n, m, embedder.evaluate(m, queries, centred))
                for n, m in embed_memories.items()
            ]
        embedder.llama.close()
    return {
        "data": {
            "folder": str(args.data),
            "train_rows": len(train),
            "test_rows": len(test),
            "queries": len(queries),
            "intents": len({c for _, c in train}),
        },
        "models": models,
        "methods": sorted({r["method"] for r in rows}, key=[r["method"] for r in rows].index),
        "results": rows,
    }


def table(report: dict[str, Any]) -> Table:
    out = Table(
        title=f"Few-shot retrieval on {report['data']['queries']} queries (k={K})",
        box=box.SIMPLE_HEAD,
    )
    for column in ("method", "memory (/intent)", "top-1", "hit@4", "vote@4", "build s", "p50 ms"):
        out.add_column(column, justify="left" if column == "method" else "right")
    best = {
        n: max(r["hit_at_4"] for r in report["results"] if r["per_intent"] == n)
        for n in {r["per_intent"] for r in report["results"]}
    }
    for r in sorted(report["results"], key=lambda r: r["per_intent"]):
        hit = f"{r['hit_at_4']:.3f}"
        out.add_row(
            r["method"].removeprefix("llamacpp:"),
            f"{r['memory']} ({r['per_intent']})",
            f"{r['top1']:.3f}",
            f"[bold]{hit}[/bold]" if r["hit_at_4"] == best[r["per_intent"]] else hit,
            f"{r['vote_at_4']:.3f}",
            f"{r['build_s']:.2f}",
            f"{r['search_ms_p50']:.2f}",
        )
    return out


def _list(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    return lambda text: [kind(part.strip()) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--data", type=Path, default=DEFAULT_DATA, help="folder with train.csv and test.csv")
    add("--out", type=Path, default=DEFAULT_OUT, help="JSON output (%(default)s)")
    add("--per-intent", type=_list(int), default=[10, 40], help="memory sizes, e.g. 10,40")
    add("--embed-per-intent", type=_list(int), default=[10], help="memory sizes for embedders")
    add("--queries", type=int, default=300, help="test rows sampled as queries (%(default)s)")
    add("--methods", type=_list(str), default=[*LEXICAL, *EMBEDDERS], help="comma list")
    add("--seed", type=int, default=0, help="memory and query sampling (%(default)s)")
    args = parser.parse_args(argv)
    unknown = set(args.methods) - {*LEXICAL, *EMBEDDERS}
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; use {', '.join([*LEXICAL, *EMBEDDERS])}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its table, write JSON; return the report."""
    args = parse_args(argv)
    started = time.perf_counter()
    report = {
        **report_header("retrieval", args, ("numpy", "scikit-learn", "llama-cpp-python")),
        **run(args),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    console.print(table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"[dim]{report['seconds']:.0f} s · wrote {args.out}[/dim]")
    return report


if __name__ == "__main__":
    main()
