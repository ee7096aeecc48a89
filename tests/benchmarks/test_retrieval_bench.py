"""The retrieval benchmark end to end on a tiny, clearly separable folder, lexical methods only."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from benchmarks.retrieval import main

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


def test_lexical_methods_on_a_separable_folder(tmp_path: Path) -> None:
    _write(tmp_path / "train.csv", [(t, label) for label, ts in INTENTS.items() for t in ts])
    _write(tmp_path / "test.csv", QUERIES)
    out = tmp_path / "retrieval.json"
    argv = ["--data", str(tmp_path), "--out", str(out), "--methods", "word,char_wb,word+char",
            "--per-intent", "2,4", "--queries", "6"]  # fmt: skip
    main(argv)
    report = json.loads(out.read_text(encoding="utf-8"))

    assert report["benchmark"] == "retrieval"
    assert report["methods"] == ["word", "char_wb", "word+char"]
    assert report["data"] == {"folder": str(tmp_path), "train_rows": 12, "test_rows": 6,
                              "queries": 6, "intents": 3}  # fmt: skip
    assert report["models"] == {}
    results = report["results"]
    assert {(r["method"], r["per_intent"]) for r in results} == {
        (m, n) for m in report["methods"] for n in (2, 4)
    }
    for r in results:
        assert r["memory"] == 3 * r["per_intent"]
        assert 0.0 <= r["top1"] <= r["hit_at_4"] <= 1.0
        assert 0.0 <= r["vote_at_4"] <= 1.0
        assert r["build_s"] >= 0.0
        assert r["search_ms_p50"] > 0.0
    word = next(r for r in results if r["method"] == "word" and r["per_intent"] == 4)
    assert word["top1"] == 1.0
    assert word["hit_at_4"] == 1.0
