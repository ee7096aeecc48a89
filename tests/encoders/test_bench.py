"""benchmarks/encoders.py end to end on a tiny, clearly separable folder, with the real encoder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from benchmarks.encoders import main

from atomic.encoders import LocalEncoder

INTENTS = {
    "card_arrival": ["my card has not arrived", "when will my new card arrive",
                     "still waiting for my card to arrive", "card delivery is late"],
    "change_pin": ["how do I change my pin", "I want a new pin code",
                   "reset the pin of my account", "pin change please"],
    "exchange_rate": ["what is the exchange rate for euros", "currency exchange rate today",
                      "which rate do you use to exchange dollars", "exchange rate fees"],
}  # fmt: skip
QUERIES = [
    ("my card still has not arrived", "card_arrival"),
    ("when does the card arrive", "card_arrival"),
    ("change my pin code", "change_pin"),
    ("how can I reset my pin", "change_pin"),
    ("exchange rate for dollars", "exchange_rate"),
    ("what exchange rate do you use", "exchange_rate"),
]


def _write(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "category"])
        writer.writerows(rows)


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
