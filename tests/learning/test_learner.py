"""The learner's posteriors: counting, forgetting, context, sampling, persistence."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest

from atomic.learning import BetaPosterior, Featurizer, Learner, Observation, ProbitPosterior
from atomic.models import function_card


def test_beta_counts_outcomes_and_takes_them_back() -> None:
    posterior = BetaPosterior.from_prior(0.5, strength=2.0, decay=1.0)
    for _ in range(8):
        posterior.update(1.0)
    posterior.update(0.0)
    assert posterior.mean == pytest.approx(9 / 11)
    posterior.update(0.0, weight=-1.0)  # the last outcome was wrong: take it back
    assert posterior.mean == pytest.approx(9 / 10)
    assert posterior.n == 8


def test_beta_forgets_so_a_model_that_starts_failing_loses_its_estimate() -> None:
    remembers = BetaPosterior.from_prior(0.5, decay=1.0)
    forgets = BetaPosterior.from_prior(0.5, decay=0.95)
    for posterior in (remembers, forgets):
        for _ in range(200):
            posterior.update(1.0)
        for _ in range(30):
            posterior.update(0.0)
    assert remembers.mean > 0.85
    assert forgets.mean < 0.5


def test_card_prior_sets_the_starting_estimate() -> None:
    learner = Learner(seed=1)
    strong = function_card("fn:strong", quality_prior=0.9)
    unknown = function_card("fn:unknown")
    strong_estimate = learner.estimate(("t", "task", "fn:strong"), strong, None)
    assert strong_estimate.mean == pytest.approx(0.9, abs=0.01)
    first = learner.estimate(("t", "task", "fn:unknown"), unknown, None)
    assert first.mean == pytest.approx(0.5, abs=0.01)
    assert first.source == "no correctness feedback yet: prior 0.50 × validity prior"


def _correct(key: tuple[str, str, str], reward: float, x: object = None) -> Observation:
    return Observation(key, "correctness", reward, x=x)  # type: ignore[arg-type]


def test_validity_alone_never_lifts_p_correct_above_the_prior() -> None:
    learner = Learner(seed=1)
    card = function_card("fn:m", quality_prior=0.6)
    key = ("t", "task", "fn:m")
    x = learner.featurize("my mouse wheel is broken")
    for _ in range(200):  # every output validated; nobody said whether it was right
        learner.observe(Observation(key, "validity", 1.0, x=x), card)
    for context in (None, x):
        estimate = learner.estimate(key, card, context)
        assert estimate.mean <= 0.6 + 1e-9
        assert "no correctness feedback yet: prior 0.6" in estimate.source or context is not None
        assert "no correctness feedback yet: prior" in estimate.source
    assert "validity 1.00 (200 outputs)" in learner.estimate(key, card, None).source
    for _ in range(3):
        learner.observe(Observation(key, "validity", 0.0), card)
    shrunk = learner.estimate(key, card, None)
    assert shrunk.mean < 0.6  # invalid outputs shrink it: prior × validity
    for _ in range(20):
        learner.observe(_correct(key, 1.0), card)
    judged = learner.estimate(key, card, None)
    assert judged.mean > 0.8
    assert judged.source.startswith("correctness 0.9")
    assert "(20 judgements)" in judged.source


def test_probit_learns_which_inputs_a_model_gets_right() -> None:
    featurize = Featurizer(16)
    posterior = ProbitPosterior.from_prior(0.5, 16)
    rng = random.Random(0)
    for _ in range(300):
        if rng.random() < 0.5:
            posterior.update(featurize("invoice refund billing amount"), 1.0)
        else:
            posterior.update(featurize("poem verse rhyme stanza"), 0.0)
    good, _ = posterior.predict(featurize("billing refund invoice amount"))
    bad, _ = posterior.predict(featurize("stanza rhyme verse poem"))
    assert good > 0.8
    assert bad < 0.2


def test_thompson_draws_spread_with_uncertainty_and_shrink_with_exploration() -> None:
    learner = Learner(seed=3, decay=1.0)
    card = function_card("fn:m")
    key = ("t", "task", "fn:m")
    learner.observe(_correct(key, 1.0), card)  # the task gets feedback: worth exploring
    wide = [learner.draw(key, card, None, 1.0) for _ in range(500)]
    for i in range(200):
        learner.observe(_correct(key, 1.0 if i % 3 else 0.0), card)
    narrow = [learner.draw(key, card, None, 1.0) for _ in range(500)]
    greedy = {learner.draw(key, card, None, 0.0) for _ in range(5)}
    assert np.std(narrow) < np.std(wide) / 3
    assert len(greedy) == 1


def test_correctness_is_not_explored_on_a_task_no_feedback_reaches() -> None:
    learner = Learner(seed=3, decay=1.0)
    card = function_card("fn:m")
    key = ("t", "task", "fn:m")
    for _ in range(50):
        learner.observe(Observation(key, "validity", 1.0), card)
    unjudged = [learner.draw(key, card, None, 1.0) for _ in range(200)]
    learner.observe(_correct(("t", "task", "fn:other"), 1.0), card)
    judged = [learner.draw(key, card, None, 1.0) for _ in range(200)]
    assert np.std(unjudged) < 0.03
    assert np.std(judged) > 0.1


def test_state_round_trips_through_json() -> None:
    learner = Learner(seed=1)
    card = function_card("fn:m")
    key = ("t", "task", "fn:m")
    x = learner.featurize("some input text")
    for reward in (1.0, 0.0, 1.0, 1.0):
        learner.observe(_correct(key, reward, x), card)
        learner.observe(Observation(key, "validity", 1.0, x=x), card)
        learner.observe(Observation(key, "history", latency_ms=12.5, output_tokens=7), card)
    [(saved_key, state)] = learner.pop_dirty()
    restored = Learner(seed=2)
    restored.load(saved_key, state)
    assert restored.estimate(key, card, None) == learner.estimate(key, card, None)
    assert restored.estimate(key, card, x) == learner.estimate(key, card, x)
    history = restored.history(key)
    assert history is not None
    assert (history.calls, history.p50_ms, history.mean_output_tokens) == (4, 12.5, 7.0)
    assert learner.pop_dirty() == []


def test_merge_applies_observations_to_the_stored_state_not_the_local_one() -> None:
    card = function_card("fn:m")
    key = ("t", "task", "fn:m")
    elsewhere = Learner(seed=1)
    for _ in range(5):
        elsewhere.observe(_correct(key, 1.0), card)
    stored = dict(elsewhere.pop_dirty())
    here = Learner(seed=2)
    here.observe(_correct(key, 0.0), card)  # stale local state: replaced by the stored one
    merged = here.merge(stored, [_correct(key, 0.0)], {key: card})
    assert merged[key]["correct"]["n"] == 6
    assert here.state_of(key) == merged[key]


def test_features_are_the_same_in_another_process() -> None:
    text = "My card was declined at the supermarket"
    here = Featurizer(32)(text).tolist()
    code = f"from atomic.learning import Featurizer; print(Featurizer(32)({text!r}).tolist())"
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(there) == here
