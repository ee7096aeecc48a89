"""The bandit behind the bids: one posterior per (tenant, task, model), learned from outcomes."""

from __future__ import annotations

import random
from typing import Any, NamedTuple

import numpy as np

from atomic.learning._features import DEFAULT_DIMS, Featurizer, FloatArray
from atomic.learning._posterior import BetaPosterior, ProbitPosterior
from atomic.models import ModelCard

__all__ = ["DEFAULT_QUALITY_PRIOR", "Estimate", "Learner", "LearnerKey"]

DEFAULT_QUALITY_PRIOR = 0.5

LearnerKey = tuple[str, str, str]
"""(tenant, task, model id)."""


class Estimate(NamedTuple):
    """P(success) for one model on one call, its uncertainty, and where it came from."""

    mean: float
    std: float
    source: str


class Learner:
    """Thompson-sampling posteriors over P(success), context-free and contextual.

    Every outcome updates both: a Beta posterior per (tenant, task, model), and a probit
    regression on cheap input features, so one task can route differently per input.
    Posteriors start from the model card's ``quality_prior`` (0.5 when the card has none).
    """

    def __init__(
        self,
        *,
        dims: int = DEFAULT_DIMS,
        seed: int | None = None,
        prior_strength: float = 2.0,
        decay: float = 0.995,
    ) -> None:
        self.featurize = Featurizer(dims)
        self.prior_strength = prior_strength
        self.decay = decay
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self._beta: dict[LearnerKey, BetaPosterior] = {}
        self._probit: dict[LearnerKey, ProbitPosterior] = {}
        self._dirty: set[LearnerKey] = set()

    @staticmethod
    def _prior(card: ModelCard | None) -> float:
        if card is None or card.quality_prior is None:
            return DEFAULT_QUALITY_PRIOR
        return card.quality_prior

    def _beta_for(self, key: LearnerKey, card: ModelCard | None) -> BetaPosterior:
        posterior = self._beta.get(key)
        if posterior is None:
            posterior = BetaPosterior.from_prior(self._prior(card), self.prior_strength, self.decay)
            self._beta[key] = posterior
        return posterior

    def _probit_for(self, key: LearnerKey, card: ModelCard | None) -> ProbitPosterior:
        posterior = self._probit.get(key)
        if posterior is None:
            posterior = ProbitPosterior.from_prior(self._prior(card), self.featurize.dims)
            posterior.drift = 1.0 - self.decay  # both posteriors forget at the same rate
            self._probit[key] = posterior
        return posterior

    def estimate(self, key: LearnerKey, card: ModelCard | None, x: FloatArray | None) -> Estimate:
        """The posterior mean and spread; contextual when ``x`` is given."""
        if x is None:
            beta = self._beta_for(key, card)
            source = f"beta posterior, {beta.n} outcomes" if beta.n else "card prior"
            return Estimate(beta.mean, beta.std, source)
        probit = self._probit_for(key, card)
        mean, std = probit.predict(x)
        source = f"contextual probit, {probit.n} outcomes" if probit.n else "card prior"
        return Estimate(mean, std, source)

    def quote(
        self, key: LearnerKey, card: ModelCard | None, x: FloatArray | None, exploration: float
    ) -> tuple[Estimate, float]:
        """The estimate and a Thompson draw, in one pass (what a bid needs)."""
        if x is None:
            beta = self._beta.get(key) or self._beta_for(key, card)
            mean = beta.mean
            source = f"beta posterior, {beta.n} outcomes" if beta.n else "card prior"
            draw = mean if exploration <= 0 else mean + exploration * (beta.sample(self.rng) - mean)
            return Estimate(mean, beta.std, source), draw
        probit = self._probit.get(key) or self._probit_for(key, card)
        mean, std = probit.predict(x)
        source = f"contextual probit, {probit.n} outcomes" if probit.n else "card prior"
        if exploration <= 0:
            return Estimate(mean, std, source), mean
        return Estimate(mean, std, source), mean + exploration * (
            probit.sample(x, self.np_rng) - mean
        )

    def draw(
        self, key: LearnerKey, card: ModelCard | None, x: FloatArray | None, exploration: float
    ) -> float:
        """A Thompson draw of P(success), shrunk toward the mean by ``exploration`` in [0, 1]."""
        if x is None:
            beta = self._beta_for(key, card)
            if exploration <= 0:
                return beta.mean
            mean = beta.mean
            return mean + exploration * (beta.sample(self.rng) - mean)
        probit = self._probit_for(key, card)
        mean, _ = probit.predict(x)
        if exploration <= 0:
            return mean
        return mean + exploration * (probit.sample(x, self.np_rng) - mean)

    def draws(
        self,
        key: LearnerKey,
        card: ModelCard | None,
        x: FloatArray | None,
        exploration: float,
        n: int,
        rng: np.random.Generator,
    ) -> FloatArray:
        """``n`` independent draws distributed as :meth:`draw`'s, from ``rng`` (so the
        learner's own stream is untouched): what a propensity must be computed from."""
        if x is None:
            beta = self._beta_for(key, card)
            mean = beta.mean
            sampled = beta.samples(rng, n) if exploration > 0 else np.full(n, mean)
        else:
            probit = self._probit_for(key, card)
            mean, _ = probit.predict(x)
            sampled = probit.samples(x, rng, n) if exploration > 0 else np.full(n, mean)
        return np.asarray(mean + max(exploration, 0.0) * (sampled - mean), dtype=float)

    def update(
        self,
        key: LearnerKey,
        card: ModelCard | None,
        x: FloatArray | None,
        reward: float,
        *,
        weight: float = 1.0,
    ) -> None:
        """Count an outcome (``reward`` in [0, 1]). ``weight=-1`` takes a counted one back."""
        self._beta_for(key, card).update(reward, weight)
        if x is not None and weight > 0:
            self._probit_for(key, card).update(x, reward)
        self._dirty.add(key)

    def pop_dirty(self) -> list[tuple[LearnerKey, dict[str, Any]]]:
        """States changed since the last call, for the store to persist."""
        changed = [(key, self.state_of(key)) for key in sorted(self._dirty)]
        self._dirty.clear()
        return changed

    def state_of(self, key: LearnerKey) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if key in self._beta:
            state["beta"] = self._beta[key].to_state()
        if key in self._probit:
            state["probit"] = self._probit[key].to_state()
        return state

    def load(self, key: LearnerKey, state: dict[str, Any]) -> None:
        if "beta" in state:
            self._beta[key] = BetaPosterior.from_state(state["beta"])
        if "probit" in state:
            self._probit[key] = ProbitPosterior.from_state(state["probit"])

    def keys(self) -> set[LearnerKey]:
        return set(self._beta) | set(self._probit)
