"""``atomic bench startup`` end to end, small: every measure taken in fresh processes, held
against its target, beside the old retrain-at-open path; its table and JSON written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from atomic.cli import app

MESSAGES = {
    "card_arrival": ["my card has not arrived", "still waiting for my new card"],
    "change_pin": ["how do I change my pin", "I forgot my pin code"],
    "cash_withdrawal_charge": ["why was I charged at the atm", "fee for taking cash out"],
}


def test_bench_startup_measures_each_command_against_its_target_and_the_old_path(
    tmp_path: Path,
) -> None:
    data = tmp_path / "train.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        for i in range(10):
            for label, texts in MESSAGES.items():
                writer.writerow([f"{texts[i % 2]} ({i})", label])
    out = tmp_path / "startup.json"
    args = ["--data", str(data), "--examples", "24", "--repeat", "1", "--out", str(out)]
    result = CliRunner().invoke(app, ["bench", "startup", *args])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["benchmark"] == "startup"
    assert report["seeded"] == {"remembered": 24, "trained_on": 24}
    results = report["results"]
    assert set(results) == {"help", "open", "runs"}
    assert {name: r["target_s"] for name, r in results.items()} == {
        "help": 0.5,
        "open": 1.0,
        "runs": 1.0,
    }
    for r in results.values():
        assert len(r["samples_s"]) == 1
        assert r["median_s"] > 0
        assert r["within_target"] == (r["median_s"] <= r["target_s"])
    for name in ("open", "runs"):
        old = results[name]["old"]
        assert abs(results[name]["speedup"] - old["median_s"] / results[name]["median_s"]) < 1e-9
    opened = results["open"]
    # The open is part of the process measured; the old path opened by retraining.
    assert 0 < opened["open_s_median"] < opened["median_s"] < opened["wall_median_s"]
    assert opened["old"]["open_s_median"] > 0
    assert "Atomic.open" in result.output
    assert "old path" in result.output
