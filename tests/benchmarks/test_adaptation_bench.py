"""The adaptation benchmark on a small stream, without the local LLMs."""

import csv
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atomic.cli import app

TOPICS = {
    "card_arrival": ["card", "arrive", "post", "delivery", "waiting", "still", "ordered"],
    "change_pin": ["pin", "change", "reset", "code", "forgot", "new", "number"],
    "atm_fee": ["atm", "fee", "charged", "cash", "withdrawal", "extra", "machine"],
}


def _stream(path: Path, n: int) -> None:
    rng = random.Random(5)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        for i in range(n):
            label = rng.choice(sorted(TOPICS))
            words = rng.sample(TOPICS[label], 4) + rng.sample(["my", "the", "please", "i"], 2)
            writer.writerow([" ".join(words) + f" #{i}", label])


def test_adaptation_bench_learns_a_classifier_that_takes_over_from_the_expert(
    tmp_path: Path,
) -> None:
    data = tmp_path / "stream.csv"
    _stream(data, 300)
    out = tmp_path / "adaptation.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "adaptation",
            "--data",
            str(data),
            "--out",
            str(out),
            "--no-llm",
            "--configs",
            "none,classifier",
            "--window",
            "100",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text())
    assert results["queries"] == 300
    assert results["labels"] == 3
    assert results["checkpoints"] == [100, 250, 300]
    none = results["configs"]["none"]["points"][-1]
    learned = results["configs"]["classifier"]["points"][-1]
    assert none["expert_share"] == 1.0
    assert none["mean_cost_usd"] == pytest.approx(0.0004)
    # With a few dozen labelled queries the classifier is sure of most inputs and wins them.
    assert learned["learned_share"] > 0.5
    assert learned["mean_cost_usd"] < none["mean_cost_usd"] / 2
    assert learned["accuracy"] >= 0.9
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert "Adaptation" in result.output
