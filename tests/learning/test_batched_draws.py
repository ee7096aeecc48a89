"""The learner's batched quotes and draws: the same beliefs and distributions as one key's."""

import numpy as np
import pytest
from scipy import stats

from atomic.learning import Estimate, Learner, Observation
from atomic.learning._learner import _product_std, _source
from atomic.learning._posterior import ProbitPosterior
from atomic.models import function_card

CARDS = [function_card(f"fn:m{i}", quality_prior=0.3 + 0.1 * i) for i in range(4)]
KEYS = [("t", "task", card.id) for card in CARDS]


def _taught(contextual: bool, judged: bool) -> tuple[Learner, np.ndarray | None]:
    learner = Learner(seed=3)
    x = learner.featurize("the card did not arrive") if contextual else None
    rng = np.random.default_rng(5)
    for i, (key, card) in enumerate(zip(KEYS, CARDS, strict=True)):
        for _ in range(5 + 10 * i):
            valid = float(rng.random() < 0.6 + 0.1 * i)
            learner.observe(Observation(key, "validity", valid, x=x), card)
        if judged and i != 1:  # the task is judged; fn:m1 has no judgement of its own
            for _ in range(3 + i):
                right = float(rng.random() < 0.5)
                learner.observe(Observation(key, "correctness", right, x=x), card)
    return learner, x


def _reference(learner: Learner, key: tuple[str, str, str], x: np.ndarray | None) -> Estimate:
    """A key's estimate computed from its posteriors one by one, as bids were before."""
    state = learner._states[key]
    if x is None:
        v_mean, v_std = state.validity.mean, state.validity.std
        c_mean, c_std = state.correct.mean, state.correct.std
        v_n, c_n, prefix = state.validity.n, state.correct.n, ""
    else:
        assert state.validity_probit is not None
        assert state.correct_probit is not None
        v_mean, v_std = state.validity_probit.predict(x)
        c_mean, c_std = state.correct_probit.predict(x)
        v_n, c_n, prefix = state.validity_probit.n, state.correct_probit.n, "contextual: "
    return Estimate(
        v_mean * c_mean,
        _product_std(v_mean, v_std, c_mean, c_std),
        _source(v_mean, v_n, c_mean, c_n, prefix),
    )


@pytest.mark.parametrize("contextual", [False, True])
@pytest.mark.parametrize("judged", [False, True])
def test_batched_estimates_are_each_keys_estimate(contextual: bool, judged: bool) -> None:
    learner, x = _taught(contextual, judged)
    estimates, means = learner.quotes(KEYS, CARDS, x, 0.0)
    for key, card, estimate, mean in zip(KEYS, CARDS, estimates, means, strict=True):
        reference = _reference(learner, key, x)
        assert estimate.source == reference.source
        assert estimate.mean == pytest.approx(reference.mean, rel=1e-12)
        assert estimate.std == pytest.approx(reference.std, rel=1e-9)
        assert mean == pytest.approx(reference.mean, rel=1e-12)
        assert learner.estimate(key, card, x).mean == pytest.approx(reference.mean, rel=1e-12)


@pytest.mark.parametrize("contextual", [False, True])
@pytest.mark.parametrize("judged", [False, True])
def test_batched_draws_are_distributed_as_single_draws(contextual: bool, judged: bool) -> None:
    """Each column of a batch is distributed as the key's own draws (two-sample KS test;
    a wrong factor, mean or spread in one column makes it fail), and the columns are
    independent (near-zero correlation)."""
    learner, x = _taught(contextual, judged)
    batch = learner.draws_many(KEYS, CARDS, x, 0.8, 4000, np.random.default_rng(1))
    assert batch.shape == (4000, len(KEYS))
    for j, (key, card) in enumerate(zip(KEYS, CARDS, strict=True)):
        single = learner.draws(key, card, x, 0.8, 4000, np.random.default_rng(100 + j))
        assert stats.ks_2samp(batch[:, j], single).pvalue > 1e-3
        mean = learner.estimate(key, card, x).mean
        assert batch[:, j].mean() == pytest.approx(single.mean(), abs=0.02)
        assert abs(batch[:, j].mean() - mean) < 0.1  # shrunk draws stay around the mean
    correlation = np.corrcoef(batch.T)
    assert np.abs(correlation - np.eye(len(KEYS))).max() < 0.1


def test_auction_draws_follow_the_propensity_draws() -> None:
    """The one draw per key an auction takes comes from the same distribution as the
    propensity's draws: 3,000 auction draws against 3,000 batched ones, per key."""
    learner, x = _taught(False, True)
    auction = np.array([learner.quotes(KEYS, CARDS, x, 1.0)[1] for _ in range(3000)])
    batch = learner.draws_many(KEYS, CARDS, x, 1.0, 3000, np.random.default_rng(2))
    for j in range(len(KEYS)):
        assert stats.ks_2samp(auction[:, j], batch[:, j]).pvalue > 1e-3


def test_the_same_seed_gives_the_same_draws() -> None:
    first, x = _taught(True, True)
    second, _ = _taught(True, True)
    assert np.array_equal(
        first.draws_many(KEYS, CARDS, x, 1.0, 64, np.random.default_rng(9)),
        second.draws_many(KEYS, CARDS, x, 1.0, 64, np.random.default_rng(9)),
    )
    assert np.array_equal(
        first.quotes(KEYS, CARDS, x, 1.0)[1], second.quotes(KEYS, CARDS, x, 1.0)[1]
    )


def test_probit_samples_are_phi_of_the_weights_score() -> None:
    """``samples`` (vectorised Φ) matches drawing the whole weight vector, as ``sample`` does."""
    posterior = ProbitPosterior.from_prior(0.7, 8)
    x = np.linspace(1.0, 0.2, 8)
    posterior.update(x, 1.0)
    rng = np.random.default_rng(4)
    whole = np.array([posterior.sample(x, rng) for _ in range(3000)])
    direct = posterior.samples(x, np.random.default_rng(8), 3000)
    assert stats.ks_2samp(whole, direct).pvalue > 1e-3
