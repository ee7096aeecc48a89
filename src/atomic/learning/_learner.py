"""The bandit behind the bids: per (tenant, task, model), what a model's outputs have shown.

Two estimates, never mixed (availability is the exchange's health, not the learner's):

- *validity*: P(the output parses, validates and passes the task's checks), from every
  output the model gave;
- *correctness*: P(the output is right | it is valid), from feedback and ground truth only
  (or from checks the task declares authoritative).

A bid's P(success) is P(correct) = validity × correctness. Before any correctness evidence
the correctness factor is the model card's prior, so outputs that merely validate can never
lift P(correct) above the prior. Both factors have a context-free Beta posterior and, for
contextual bids, a probit regression on input features. Latency and output-length history
live beside them, in the same persisted state.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from atomic.learning._features import DEFAULT_DIMS, Featurizer, FloatArray
from atomic.learning._history import ModelHistory
from atomic.learning._posterior import BetaPosterior, ProbitPosterior, normal_cdf
from atomic.models import ModelCard

__all__ = [
    "DEFAULT_QUALITY_PRIOR",
    "Estimate",
    "Learner",
    "LearnerKey",
    "Observation",
]

DEFAULT_QUALITY_PRIOR = 0.5
VALIDITY_PRIOR = 0.99
"""Before any output is seen a model is taken to answer validly: an unseen model is judged
by its card's quality prior, not penalised for outputs it has not given."""

LearnerKey = tuple[str, str, str]
"""(tenant, task, model id)."""

Signal = Literal["validity", "correctness", "history"]


class Estimate(NamedTuple):
    """P(correct) for one model on one call, its uncertainty, and what it rests on."""

    mean: float
    std: float
    source: str


@dataclass(frozen=True)
class Observation:
    """One thing learned about a model on a task, waiting to be applied to its state.

    ``validity``: ``value`` 1 for a valid output, 0 for an invalid one. ``correctness``:
    ``value`` the reward in [0, 1]; ``weight=-1`` takes back one counted before.
    ``history``: a call's latency and output tokens.
    """

    key: LearnerKey
    signal: Signal
    value: float = 0.0
    weight: float = 1.0
    x: FloatArray | None = None
    latency_ms: float = 0.0
    output_tokens: int = 0


@dataclass
class _State:
    validity: BetaPosterior
    correct: BetaPosterior
    history: ModelHistory
    validity_probit: ProbitPosterior | None = None
    correct_probit: ProbitPosterior | None = None
    invalid: int = 0
    """Invalid outputs seen (see :func:`_explores_validity`)."""
    estimate: Estimate | None = None
    """The context-free estimate, kept until an observation changes it (its words cost
    more to format than the rest of a bid)."""


class Learner:
    """Thompson-sampling posteriors over P(valid) and P(correct | valid), per key.

    Posteriors start from the model card's ``quality_prior`` (0.5 when the card has none).
    Observations are applied with :meth:`apply`; the store applies them under a row lock to
    the persisted state (:meth:`merge`), so concurrent processes lose no update.
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
        self._states: dict[LearnerKey, _State] = {}
        self._dirty: set[LearnerKey] = set()
        self._judged: set[tuple[str, str]] = set()
        """(tenant, task)s with correctness evidence on any model. Until a task gets some,
        its correctness factor is not explored: no feedback would come to teach it, and
        draws from an untouched prior would only add noise to what validity has learned."""

    @staticmethod
    def prior_of(card: ModelCard | None) -> float:
        if card is None or card.quality_prior is None:
            return DEFAULT_QUALITY_PRIOR
        return card.quality_prior

    def _state(self, key: LearnerKey, card: ModelCard | None) -> _State:
        state = self._states.get(key)
        if state is None:
            prior = self.prior_of(card)
            state = _State(
                validity=BetaPosterior.from_prior(VALIDITY_PRIOR, self.prior_strength, self.decay),
                correct=BetaPosterior.from_prior(prior, self.prior_strength, self.decay),
                history=ModelHistory(),
            )
            self._states[key] = state
        return state

    def _probits(self, state: _State, card: ModelCard | None) -> tuple[ProbitPosterior, ...]:
        dims = self.featurize.dims
        if state.validity_probit is None:
            state.validity_probit = ProbitPosterior.from_prior(VALIDITY_PRIOR, dims)
            state.validity_probit.drift = 1.0 - self.decay
        if state.correct_probit is None:
            state.correct_probit = ProbitPosterior.from_prior(self.prior_of(card), dims)
            state.correct_probit.drift = 1.0 - self.decay
        return state.validity_probit, state.correct_probit

    def history(self, key: LearnerKey) -> ModelHistory | None:
        """Latency and output tokens of the model's recent calls on the task."""
        state = self._states.get(key)
        return state.history if state is not None and state.history.calls else None

    def estimate(self, key: LearnerKey, card: ModelCard | None, x: FloatArray | None) -> Estimate:
        """P(correct) and its spread, saying what evidence it rests on; contextual with ``x``."""
        return self.quote(key, card, x, 0.0)[0]

    def quote(
        self, key: LearnerKey, card: ModelCard | None, x: FloatArray | None, exploration: float
    ) -> tuple[Estimate, float]:
        """The estimate and a Thompson draw of P(correct), in one pass (what a bid needs)."""
        estimates, drawn = self.quotes([key], [card], x, exploration)
        return estimates[0], float(drawn[0])

    def quotes(
        self,
        keys: Sequence[LearnerKey],
        cards: Sequence[ModelCard | None],
        x: FloatArray | None,
        exploration: float,
    ) -> tuple[list[Estimate], FloatArray]:
        """Every key's estimate and one Thompson draw of its P(correct), shrunk toward the mean
        by ``exploration`` in [0, 1]: contextual posteriors drawn in one numpy call."""
        if x is None:
            return self._beta_quotes(keys, cards, exploration)
        beliefs = self._beliefs(keys, cards, x)
        if exploration <= 0:
            return beliefs.estimates, beliefs.mean
        sampled = beliefs.sample(self.np_rng, None)
        if exploration == 1.0:
            return beliefs.estimates, sampled
        return beliefs.estimates, beliefs.mean + exploration * (sampled - beliefs.mean)

    def _beta_quotes(
        self, keys: Sequence[LearnerKey], cards: Sequence[ModelCard | None], exploration: float
    ) -> tuple[list[Estimate], FloatArray]:
        # One scalar draw at a time, from the learner's own `random.Random` and in the order
        # bids always drew them (correctness, then validity, bidder after bidder): for a
        # handful of bidders this beats one numpy call, which spends ~8 µs checking array
        # parameters, and a seed makes the same choices it always made.
        rng, judged = self.rng, self._judged
        estimates, drawn = [], []
        for key, card in zip(keys, cards, strict=True):
            state = self._states.get(key) or self._state(key, card)
            estimate = state.estimate or _beta_estimate(state)
            estimates.append(estimate)
            if exploration <= 0:
                drawn.append(estimate.mean)
                continue
            v, c = state.validity, state.correct
            c_draw = c.sample(rng) if key[:2] in judged else c.mean
            draw = v.sample(rng) * c_draw
            drawn.append(estimate.mean + exploration * (draw - estimate.mean))
        return estimates, np.array(drawn)

    def draw(
        self, key: LearnerKey, card: ModelCard | None, x: FloatArray | None, exploration: float
    ) -> float:
        """A Thompson draw of P(correct), shrunk toward the mean by ``exploration`` in [0, 1]."""
        return self.quote(key, card, x, exploration)[1]

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
        return self.draws_many([key], [card], x, exploration, n, rng)[:, 0]

    def draws_many(
        self,
        keys: Sequence[LearnerKey],
        cards: Sequence[ModelCard | None],
        x: FloatArray | None,
        exploration: float,
        n: int,
        rng: np.random.Generator,
    ) -> FloatArray:
        """``n`` rows of draws, one column per key, each distributed as :meth:`quotes`'s
        draw, from ``rng`` and in one numpy call per kind of posterior."""
        beliefs = self._beliefs(keys, cards, x)
        if exploration <= 0:
            return np.broadcast_to(beliefs.mean, (n, len(keys))).copy()
        sampled = beliefs.sample(rng, n)
        if exploration == 1.0:
            return sampled
        return np.asarray(beliefs.mean + exploration * (sampled - beliefs.mean), dtype=float)

    def _beliefs(
        self, keys: Sequence[LearnerKey], cards: Sequence[ModelCard | None], x: FloatArray | None
    ) -> _Beliefs:
        states = [
            self._states.get(k) or self._state(k, c) for k, c in zip(keys, cards, strict=True)
        ]
        judged = [k[:2] in self._judged for k in keys]
        if x is None:
            return _beta_beliefs(states, judged)
        probits = [self._probits(s, c) for s, c in zip(states, cards, strict=True)]
        return _probit_beliefs(states, probits, judged, x)

    def observe(self, observation: Observation, card: ModelCard | None) -> None:
        """Apply one observation to the in-memory state (see also :meth:`merge`)."""
        state = self._state(observation.key, card)
        state.estimate = None
        x = observation.x
        if observation.signal == "history":
            state.history.record(observation.latency_ms, observation.output_tokens)
        elif observation.signal == "validity":
            state.invalid += observation.value < 1.0
            state.validity.update(observation.value)
            if x is not None:
                self._probits(state, card)[0].update(x, observation.value)
        else:
            self._judged.add(observation.key[:2])
            state.correct.update(observation.value, observation.weight)
            if x is not None and observation.weight > 0:
                self._probits(state, card)[1].update(x, observation.value)
        self._dirty.add(observation.key)

    def merge(
        self,
        stored: dict[LearnerKey, dict[str, Any]],
        observations: list[Observation],
        cards: Mapping[LearnerKey, ModelCard | None],
    ) -> dict[LearnerKey, dict[str, Any]]:
        """The new persisted state of every key observed: the stored state (what every
        process has learned, read under a lock) with ``observations`` applied. The
        in-memory state becomes that too."""
        for key in {o.key for o in observations}:
            # A key no process has written yet keeps what this one holds: the prior, or
            # outcomes taught with `observe` and not saved yet.
            if key in stored:
                self.load(key, stored[key])
        for observation in observations:
            self.observe(observation, cards.get(observation.key))
        keys = sorted({o.key for o in observations})
        self._dirty.difference_update(keys)
        return {key: self.state_of(key) for key in keys}

    def pop_dirty(self) -> list[tuple[LearnerKey, dict[str, Any]]]:
        """States changed in memory since the last call and not yet merged, to persist."""
        changed = [(key, self.state_of(key)) for key in sorted(self._dirty)]
        self._dirty.clear()
        return changed

    def state_of(self, key: LearnerKey) -> dict[str, Any]:
        state = self._states.get(key)
        if state is None:
            return {}
        saved: dict[str, Any] = {
            "validity": state.validity.to_state(),
            "correct": state.correct.to_state(),
            "history": state.history.to_state(),
            "invalid": state.invalid,
        }
        if state.validity_probit is not None:
            saved["validity_probit"] = state.validity_probit.to_state()
        if state.correct_probit is not None:
            saved["correct_probit"] = state.correct_probit.to_state()
        return saved

    def load(self, key: LearnerKey, saved: dict[str, Any]) -> None:
        """Replace a key's state with a persisted one. States written before validity and
        correctness were separated (a single ``beta``) are not loaded: they counted
        outages and unchecked outputs as outcomes."""
        if "correct" not in saved:
            return
        if saved["correct"].get("n", 0):
            self._judged.add(key[:2])
        self._states[key] = _State(
            validity=BetaPosterior.from_state(saved["validity"]),
            correct=BetaPosterior.from_state(saved["correct"]),
            history=ModelHistory.from_state(saved.get("history", {})),
            validity_probit=_probit(saved.get("validity_probit")),
            correct_probit=_probit(saved.get("correct_probit")),
            invalid=int(saved.get("invalid", 0)),
        )

    def keys(self) -> set[LearnerKey]:
        return set(self._states)


@dataclass
class _Beliefs:
    """Several keys' P(correct) = validity × correctness, as arrays: ``2k`` factors, validity
    then correctness. Each factor drawn is a Beta (``kind`` "beta": parameters ``a``, ``b``)
    or Φ of a normal (``kind`` "probit": mean ``a`` and spread ``b`` of the standardised
    score); the others are taken at their means."""

    kind: Literal["beta", "probit"]
    estimates: list[Estimate]
    mean: FloatArray
    factor_mean: FloatArray
    drawn: list[int]
    """The factors drawn (indices into ``factor_mean``)."""
    a: FloatArray
    b: FloatArray
    """The drawn factors' parameters, in ``drawn`` order."""

    def sample(self, rng: np.random.Generator, n: int | None) -> FloatArray:
        """One draw of every key's validity × correctness (``n`` rows of them if given)."""
        width = self.factor_mean.shape[0]
        rows = () if n is None else (n,)
        size = (*rows, len(self.drawn))
        if self.kind == "beta":
            drawn = rng.beta(self.a, self.b, size=size)
        else:
            drawn = normal_cdf(self.a + self.b * rng.standard_normal(size))
        if len(self.drawn) == width:
            factors = drawn
        else:
            factors = np.empty((*rows, width))
            factors[...] = self.factor_mean
            factors[..., self.drawn] = drawn
        k = width // 2
        return np.asarray(factors[..., :k] * factors[..., k:], dtype=float)


def _beta_estimate(state: _State) -> Estimate:
    """The context-free estimate, kept on the state until an observation changes it."""
    v, c = state.validity, state.correct
    v_mean, c_mean = v.mean, c.mean
    state.estimate = Estimate(
        v_mean * c_mean,
        _product_std(v_mean, v.std, c_mean, c.std),
        _source(v_mean, v.n, c_mean, c.n, ""),
    )
    return state.estimate


def _beta_beliefs(states: list[_State], judged: list[bool]) -> _Beliefs:
    estimates = [state.estimate or _beta_estimate(state) for state in states]
    k = len(states)
    posteriors = [s.validity for s in states] + [s.correct for s in states]
    # Validity is always drawn; correctness once the task has any judgement.
    drawn = list(range(k)) + [k + i for i in range(k) if judged[i]]
    return _Beliefs(
        "beta",
        estimates,
        np.array([e.mean for e in estimates]),
        np.array([p.mean for p in posteriors]),
        drawn,
        np.array([posteriors[i].alpha for i in drawn]),
        np.array([posteriors[i].beta for i in drawn]),
    )


def _probit_beliefs(
    states: list[_State],
    probits: list[tuple[ProbitPosterior, ...]],
    judged: list[bool],
    x: FloatArray,
) -> _Beliefs:
    k = len(states)
    posteriors = [p[0] for p in probits] + [p[1] for p in probits]
    mu = np.array([p.mu for p in posteriors])
    var = np.array([p.var for p in posteriors])
    root_beta2 = np.sqrt([p.beta2 for p in posteriors])
    centre = mu @ x
    weight_sd = np.sqrt(var @ (x * x))
    # The estimate is the predictive P(success) (noise β² added); a draw is Φ of one draw of
    # the weights' score, standardised by β alone (see ProbitPosterior.predict and samples).
    t = centre / np.sqrt(root_beta2**2 + weight_sd**2)
    factor_mean = normal_cdf(t)
    factor_std = np.minimum(0.5, np.exp(-0.5 * t * t) / _ROOT_2PI * weight_sd / root_beta2)
    means, stds = factor_mean.tolist(), factor_std.tolist()
    estimates = []
    for i, (v_probit, c_probit) in enumerate(probits):
        v_mean, c_mean = means[i], means[k + i]
        estimates.append(
            Estimate(
                v_mean * c_mean,
                _product_std(v_mean, stds[i], c_mean, stds[k + i]),
                _source(v_mean, v_probit.n, c_mean, c_probit.n, "contextual: "),
            )
        )
    explores = [_explores_validity(s, p[0]) for s, p in zip(states, probits, strict=True)]
    drawn = [i for i in range(k) if explores[i]] + [k + i for i in range(k) if judged[i]]
    return _Beliefs(
        "probit",
        estimates,
        factor_mean[:k] * factor_mean[k:],
        factor_mean,
        drawn,
        centre[drawn] / root_beta2[drawn],
        weight_sd[drawn] / root_beta2[drawn],
    )


_ROOT_2PI = math.sqrt(2.0 * math.pi)


_VALIDITY_WARMUP = 20


def _explores_validity(state: _State, probit: ProbitPosterior) -> bool:
    """Whether a contextual bid draws its validity factor. A probit that has only ever seen
    valid outputs keeps most of its prior variance (confident predictions barely move it),
    so past a warm-up its draws would be noise on the correctness the bid is about: until the
    model gives an invalid output, its validity is taken at its mean."""
    return bool(state.invalid) or probit.n < _VALIDITY_WARMUP


def _probit(saved: dict[str, Any] | None) -> ProbitPosterior | None:
    return None if saved is None else ProbitPosterior.from_state(saved)


def _product_std(a: float, a_std: float, b: float, b_std: float) -> float:
    # The spread of a product of independent estimates.
    variance = (a_std**2 + a**2) * (b_std**2 + b**2) - (a * b) ** 2
    return math.sqrt(max(variance, 0.0))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _source(v: float, v_n: int, c: float, c_n: int, prefix: str) -> str:
    validity = f"validity {v:.2f} ({_count(v_n, 'output')})" if v_n else "validity prior"
    if c_n:
        return f"{prefix}correctness {c:.2f} ({_count(c_n, 'judgement')}) × {validity}"
    return f"{prefix}no correctness feedback yet: prior {c:.2f} × {validity}"
