"""benchmarks/encoders.py end to end on a tiny, clearly separable folder, with the real encoder."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.encoders import main

from atomic.encoders import LocalEncoder
from tests.benchmarks.test_retrieval_bench import INTENTS, QUERIES, _write


def test_the_benchmark_writes_its_table_as_json(
    tmp_path: Path, local_encoder: LocalEncoder
) -> None:
    _write(tmp_path / "train.csv", [(t, label) for label, ts in INTENTS.items() for t in ts])
    _write(tmp_path / "test.csv", QUERIES)
    out = tmp_path / "encoders.json"
    main(["--data", str(tmp_path), "--out", str(out), "--shots", "full,2", "--seeds", "2",
          "--queries", "6"])  # fmt: skip
    report = json.loads(out.read_text())
    assert report["benchmark"] == "encoders"
    assert report["encoder"]["name"] == local_encoder.name
    assert report["encoder"]["install"]["total_mb"] > 20  # the weights alone are 23 MB
    assert report["encoder"]["cached_ms"] < report["encoder"]["uncached_single_ms"]
    rows = {(r["shots"], r["method"]): r for r in report["results"]}
    assert set(rows) == {
        (shots, method)
        for shots in ("full", "2")
        for method in ("tfidf", "embedding", "tfidf+embedding")
    }
    assert rows[("full", "tfidf+embedding")]["accuracy"] == 1.0
    assert rows[("full", "tfidf")]["hit_at_4"] is None
    assert len(rows[("2", "embedding")]["accuracy_runs"]) == 2
    assert rows[("2", "tfidf+embedding")]["hit_at_4"] == 1.0
