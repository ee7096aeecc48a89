"""Learning: what each model's outputs have shown per task (validity, correctness, latency)."""

from atomic.learning._features import DEFAULT_DIMS, Featurizer
from atomic.learning._history import ModelHistory
from atomic.learning._learner import (
    DEFAULT_QUALITY_PRIOR,
    Estimate,
    Learner,
    LearnerKey,
    Observation,
)
from atomic.learning._offpolicy import IPSEstimate, ips
from atomic.learning._posterior import BetaPosterior, ProbitPosterior

__all__ = [
    "DEFAULT_DIMS",
    "DEFAULT_QUALITY_PRIOR",
    "BetaPosterior",
    "Estimate",
    "Featurizer",
    "IPSEstimate",
    "Learner",
    "LearnerKey",
    "ModelHistory",
    "Observation",
    "ProbitPosterior",
    "ips",
]
