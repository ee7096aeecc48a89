"""The routing benchmark: its metrics on hand-made numbers, its kNN router, and a short run
of ``atomic bench routing`` end to end on the shared RouterBench slice and on a tiny folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from benchmarks._knn import KNNRouter
from benchmarks._metrics import aiq, cost_save, ips, nondecreasing_hull
from typer.testing import CliRunner

from atomic.cli import _bench, app
from tests.models.test_replay import _row, _write

SHARED = Path(__file__).parents[2].parent / "shared" / "data" / "routerbench"


def test_hull_keeps_the_upper_non_decreasing_part() -> None:
    points = [(1.0, 0.5), (2.0, 0.55), (3.0, 0.9), (4.0, 0.8), (2.5, 0.6)]
    assert nondecreasing_hull(points) == [(1.0, 0.5), (3.0, 0.9)]
    # A point above the chord joins the hull; one past the best quality never does.
    assert nondecreasing_hull([*points, (2.0, 0.8)]) == [(1.0, 0.5), (2.0, 0.8), (3.0, 0.9)]


def test_aiq_of_a_known_hull() -> None:
    points = [(1.0, 0.5), (2.0, 0.55), (3.0, 0.9), (4.0, 0.8)]
    # 0 below cost 1, the chord 0.5 → 0.9 over [1, 3] (area 1.4), flat 0.9 over [3, 4]: 2.3 / 4.
    assert aiq(points, 0.0, 4.0) == pytest.approx(0.575)
    assert aiq([(1.0, 0.5), (3.0, 0.9)], 0.0, 4.0) == pytest.approx(0.575)  # same hull
    assert aiq([(0.0, 0.7)], 0.0, 4.0) == pytest.approx(0.7)  # a flat line at its quality
    with pytest.raises(ValueError, match="below c_min"):
        aiq(points, 2.0, 1.0)


def test_cost_save_of_a_known_set() -> None:
    points = [(0.6, 0.90), (0.4, 0.91), (0.3, 0.89), (1.2, 0.95)]
    assert cost_save(points, best_quality=0.9, best_cost=1.0) == pytest.approx(0.6)
    assert cost_save([(0.3, 0.89)], best_quality=0.9, best_cost=1.0) is None
    assert cost_save([(1.2, 0.95)], best_quality=0.9, best_cost=1.0) == pytest.approx(-0.2)


def test_ips_is_unbiased_where_the_unweighted_mean_is_not() -> None:
    rng = np.random.default_rng(7)
    reward_mean = np.array([[0.9, 0.5, 0.2], [0.3, 0.6, 0.3]])  # [context, action]
    logging = np.array([[0.6, 0.2, 0.2], [0.45, 0.5, 0.05]])  # P(action | context)
    target = np.array([0, 2])  # the deterministic policy to evaluate
    true_value = reward_mean[[0, 1], target].mean()  # contexts are equally likely: 0.6
    estimates, errors, unweighted = [], [], []
    for _ in range(400):
        contexts = rng.integers(0, 2, 300)
        draws = rng.random(300)[:, None]
        actions = (draws > np.cumsum(logging[contexts], axis=1)).sum(axis=1)
        rewards = (rng.random(300) < reward_mean[contexts, actions]).astype(float)
        matches = actions == target[contexts]
        found = ips(matches.tolist(), logging[contexts, actions].tolist(), rewards.tolist())
        estimates.append(found.ips)
        errors.append(found.ips_stderr)
        unweighted.append(rewards[matches].mean())
    assert np.mean(estimates) == pytest.approx(true_value, abs=0.02)
    # The reported standard error matches the estimates' actual spread.
    assert np.mean(errors) == pytest.approx(np.std(estimates), rel=0.2)
    # Context 1's target action is rare in the log, so ignoring propensities overweights
    # context 0, where the target does well: the naive mean is far off.
    assert np.mean(unweighted) - true_value > 0.15


def test_ips_reports_overlap() -> None:
    found = ips([True, False, True, False], [0.5, 0.5, 0.25, 1.0], [1.0, 1.0, 0.0, 1.0])
    assert found.ips == pytest.approx((2.0 + 0.0) / 4)
    assert found.snips == pytest.approx(2.0 / 6.0)
    assert found.ips_stderr == pytest.approx(np.std([2.0, 0.0, 0.0, 0.0], ddof=1) / 2)
    assert found.matched == 2
    assert found.effective_n == pytest.approx(36 / 20)
    assert ips([False], [0.5], [1.0]).snips is None
    with pytest.raises(ValueError, match="propensities"):
        ips([True], [0.0], [1.0])


def test_knn_routes_by_neighbours_and_breaks_ties_toward_cheap() -> None:
    prompts = [f"write python code {i}" for i in range(10)] + [
        f"pick a letter {i}" for i in range(10)
    ]
    quality = np.array([[1.0, 0.0]] * 10 + [[0.0, 1.0]] * 10)  # model 0 codes, model 1 answers
    router = KNNRouter(3).fit(prompts, quality)
    predicted = router.predict(["write python code please", "pick a letter now"])
    assert predicted.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    cost = np.array([0.01, 0.001])
    assert KNNRouter.route(predicted, cost, 1.0).tolist() == [0, 1]
    assert KNNRouter.route(predicted, cost, 0.001).tolist() == [1, 1]  # not worth the price
    assert KNNRouter.route(np.array([[0.5, 0.5]]), cost, 1.0).tolist() == [
        1
    ]  # equal quality → cheap
    tuned, scores = KNNRouter.tuned(prompts, quality, seed=0, candidates=(1, 3, 15))
    assert set(scores) == {1, 3, 15}
    assert tuned.k == max(scores, key=lambda k: (scores[k], -k))  # the best (minus) Brier
    assert all(score <= 0 for score in scores.values())


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared RouterBench slice is missing")
def test_bench_routing_end_to_end_on_the_shared_slice(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "routing.json"
    args = ["bench", "routing", "--limit", "60", "--out", str(out), "--values", "0.001", "0.05",
            "1", "--floors", "0.8"]  # fmt: skip
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert "kNN router" in result.output
    assert "exchange (warm)" in result.output

    models = report["data"]["models"]
    assert len(models) == 11
    assert set(report["singles"]) == set(models)
    assert set(report["baselines"]) == {"random", "cheapest", "best single", "oracle"}
    assert len(report["knn"]["configs"]) == len(report["exchange"]["configs"]) == 4
    assert [o["exploration"] for o in report["exchange"]["online"]] == [1.0, 0.5]
    singles = report["singles"].values()
    assert report["baselines"]["oracle"]["accuracy"] >= max(p["accuracy"] for p in singles)
    for config in report["exchange"]["configs"]:
        assert sum(config["picks"].values()) == 60
        assert set(config["picks"]) <= set(models)
    for online in report["exchange"]["online"]:
        assert len(online["rolling_accuracy"]) == 60
        assert 0.0 <= online["accuracy"] <= 1.0
    for family in ("kNN router", "exchange (warm)"):
        assert 0.0 < report["families"][family]["aiq"] <= 1.0
    estimate = report["exchange"]["ips"]
    assert estimate["n"] == 60
    assert 0 < estimate["propensity_min"] <= estimate["propensity_mean"] <= 1.0
    assert 0.0 <= estimate["true"]["accuracy"] <= 1.0
    assert len(report["targets"]) == 5
    baselines = {
        "per-task one-hot", "per-task logistic TF-IDF", "per-task logistic encoder",
        "per-task kNN encoder", "per-task MLP encoder", "FrugalGPT cascade", "agreement cascade",
    }  # fmt: skip
    assert set(report["per_task"]) == baselines
    for name in baselines:
        assert 0.0 < report["families"][name]["aiq"] <= 1.0
        for config in report["per_task"][name]["configs"]:
            assert 0.0 <= config["accuracy"] <= 1.0
    assert len(report["per_task"]["per-task one-hot"]["configs"]) == 4
    # The cascade pays for every model it asks: never less than its first model alone.
    cheapest = min(p["cost_usd"] for p in singles)
    assert all(
        c["cost_usd"] >= cheapest for c in report["per_task"]["FrugalGPT cascade"]["configs"]
    )
    png = Path(report["png"])
    assert png.is_file()
    assert png.stat().st_size > 10_000


def test_bench_routing_accepts_any_folder_of_the_format(cli: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    rows = [_row(f"q.{i}", ("1.0", "['A']", "0.01"), (str(float(i % 2)), "['B']", "0.001"))
            for i in range(8)]  # fmt: skip
    _write(folder / "tiny_train.csv", rows[:5])
    _write(folder / "tiny_test.csv", rows[5:])
    out = tmp_path / "tiny.json"
    args = ["bench", "routing", "--data", str(folder), "--out", str(out), "--values", "1",
            "--floors", "0.9", "--online-exploration", "1"]  # fmt: skip
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["data"]["models"] == ["org/big-model", "small-model"]
    assert report["data"]["test_rows"] == 3
    assert report["baselines"]["oracle"]["accuracy"] == 1.0


def test_bench_without_a_checkout_says_so(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_bench, "__file__", str(tmp_path / "site" / "atomic" / "cli" / "_bench.py"))
    result = cli.invoke(app, ["bench", "routing", "--limit", "5"])
    assert result.exit_code == 2
    assert "no benchmarks folder next to src/" in result.stderr
