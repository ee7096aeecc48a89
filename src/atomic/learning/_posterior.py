"""Beliefs about one model's chance of success on one task: context-free and contextual.

Both forget slowly (``decay``), so a model whose outputs start failing loses its estimate in
a few dozen calls instead of being carried by a long good history.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from atomic.learning._features import FloatArray

__all__ = ["BetaPosterior", "ProbitPosterior", "normal_cdf"]

_NORMAL = NormalDist()
_SQRT2 = math.sqrt(2.0)


def _cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


def normal_cdf(z: FloatArray) -> FloatArray:
    """Φ elementwise (scipy's ``ndtr``, imported on first use: it adds to start-up)."""
    from scipy.special import ndtr

    return np.asarray(ndtr(z), dtype=float)


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


@dataclass
class BetaPosterior:
    """Beta(alpha, beta) over P(success), started at ``strength`` pseudo-calls of the prior."""

    alpha: float
    beta: float
    prior_mean: float
    strength: float
    decay: float = 0.995
    n: int = 0

    @classmethod
    def from_prior(cls, mean: float, strength: float = 2.0, decay: float = 0.995) -> BetaPosterior:
        mean = min(max(mean, 0.01), 0.99)
        return cls(mean * strength, (1 - mean) * strength, mean, strength, decay)

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def std(self) -> float:
        total = self.alpha + self.beta
        return math.sqrt(self.alpha * self.beta / (total * total * (total + 1)))

    def sample(self, rng: random.Random) -> float:
        return rng.betavariate(self.alpha, self.beta)

    def samples(self, rng: np.random.Generator, n: int) -> FloatArray:
        """``n`` independent draws, distributed as :meth:`sample`'s."""
        return rng.beta(self.alpha, self.beta, n)

    def update(self, reward: float, weight: float = 1.0) -> None:
        """Count one outcome (reward in [0, 1]); negative ``weight`` takes one back."""
        if weight > 0 and self.decay < 1.0:
            # Shrink the evidence toward the prior, keeping at least the prior's strength.
            self.alpha = self.prior_mean * self.strength + self.decay * (
                self.alpha - self.prior_mean * self.strength
            )
            self.beta = (1 - self.prior_mean) * self.strength + self.decay * (
                self.beta - (1 - self.prior_mean) * self.strength
            )
        self.alpha = max(self.alpha + weight * reward, 1e-3)
        self.beta = max(self.beta + weight * (1.0 - reward), 1e-3)
        self.n += 1 if weight > 0 else -1

    def to_state(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "prior_mean": self.prior_mean,
            "strength": self.strength,
            "decay": self.decay,
            "n": self.n,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BetaPosterior:
        return cls(**state)


@dataclass
class ProbitPosterior:
    """Bayesian probit regression on input features with a diagonal Gaussian over weights.

    The closed-form online update of Graepel et al. (2010), built for ad click prediction:
    P(success | x) = Φ(μ·x / sqrt(β² + Σ xᵢ² σᵢ²)). Thompson sampling draws weights from the
    posterior. ``drift`` is the share of precision forgotten at each update (exponential
    forgetting: variances grow by ``1 / (1 − drift)``, up to the prior's), so old evidence fades
    as the Beta's does with ``decay = 1 − drift``.
    """

    mu: FloatArray
    var: FloatArray
    beta2: float = 1.0
    drift: float = 1e-3
    n: int = 0
    _prior_var: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)

    @classmethod
    def from_prior(cls, mean: float, dims: int, prior_var: float = 1.0) -> ProbitPosterior:
        var = np.full(dims, prior_var / 2.0)
        var[0] = prior_var
        mu = np.zeros(dims)
        mean = min(max(mean, 0.01), 0.99)
        # Choose the bias so that an average input (bias 1, little else) predicts `mean`.
        mu[0] = _NORMAL.inv_cdf(mean) * math.sqrt(1.0 + var[0])
        return cls(mu=mu, var=var, _prior_var=var.copy())

    def _total(self, x: FloatArray) -> tuple[float, float]:
        mean = float(self.mu @ x)
        spread = math.sqrt(self.beta2 + float((x * x) @ self.var))
        return mean, spread

    def predict(self, x: FloatArray) -> tuple[float, float]:
        """Predictive P(success | x) and an approximate standard deviation of it."""
        mean, spread = self._total(x)
        t = mean / spread
        p = _cdf(t)
        weight_sd = math.sqrt(float((x * x) @ self.var))
        return p, min(0.5, _pdf(t) * weight_sd / math.sqrt(self.beta2))

    def sample(self, x: FloatArray, rng: np.random.Generator) -> float:
        weights = self.mu + np.sqrt(self.var) * rng.standard_normal(self.mu.shape[0])
        return _cdf(float(weights @ x) / math.sqrt(self.beta2))

    def samples(self, x: FloatArray, rng: np.random.Generator, n: int) -> FloatArray:
        """``n`` independent draws, distributed as :meth:`sample`'s: with weights drawn from
        the diagonal Gaussian, ``weights · x`` is normal with mean ``μ·x`` and variance
        ``Σ xᵢ² σᵢ²``, so it is drawn directly."""
        mean, spread = self.draw_moments(x)
        z = (mean + spread * rng.standard_normal(n)) / math.sqrt(self.beta2)
        return normal_cdf(z)

    def draw_moments(self, x: FloatArray) -> tuple[float, float]:
        """Mean and spread of ``weights · x`` under the posterior: a draw is
        Φ((mean + spread × z) / β) for a standard normal z (what batched draws need)."""
        return float(self.mu @ x), math.sqrt(float((x * x) @ self.var))

    def update(self, x: FloatArray, reward: float) -> None:
        y = 1.0 if reward >= 0.5 else -1.0
        mean, spread = self._total(x)
        t = y * mean / spread
        v = _pdf(t) / max(_cdf(t), 1e-12)
        w = v * (v + t)
        self.mu = self.mu + y * x * self.var / spread * v
        self.var = self.var * (1.0 - (x * x) * self.var / (spread * spread) * w)
        if self.drift > 0 and self._prior_var.shape == self.var.shape:
            # Relative, not additive: a fixed variance added to every weight at each update
            # swamped converged weights, so the posterior forgot after a few dozen calls.
            self.var = np.minimum(self.var / (1.0 - self.drift), self._prior_var)
        self.n += 1

    def to_state(self) -> dict[str, Any]:
        return {
            "mu": self.mu.tolist(),
            "var": self.var.tolist(),
            "beta2": self.beta2,
            "drift": self.drift,
            "n": self.n,
            "prior_var": self._prior_var.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ProbitPosterior:
        return cls(
            mu=np.asarray(state["mu"], dtype=float),
            var=np.asarray(state["var"], dtype=float),
            beta2=state["beta2"],
            drift=state["drift"],
            n=state["n"],
            _prior_var=np.asarray(state["prior_var"], dtype=float),
        )
